// The cluster from C++ (docs/cluster.md): a head and an embedded worker, two Runtimes
// in this process talking over CAF's middleman on 127.0.0.1. The worker registers a
// C++ tool the head does not have; the join checks version, protocol and secret, and
// says why it refuses.
#include <atomic>
#include <cctype>
#include <thread>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "cohort/worker.hpp"
#include "messages/atoms.hpp"
#include "messages/cluster.hpp"
#include "node/cluster.hpp"
#include "runtime/cluster_auth.hpp"
#include "runtime/runtime_access.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;


json shout_scenario() {
  return {{"name", "shouting"},
          {"agents", {{"shout", {{"type", "tool"}, {"tool", "shout"}, {"input", "{{item}}"}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.words"}, {"do", {{"agent", "shout"}}}}},
          {"input", {{"words", {"ab", "cd", "ef"}}}}};
}

TEST(ClusterEmbed, AnEmbeddedWorkerRunsItsOwnToolForTheHead) {
  Runtime head_rt(testing::cluster_test_options());
  node::cluster_options o;
  o.secret = "embedded secret";
  node::cluster_head head(head_rt, o);
  EXPECT_THROW(head_rt.load(shout_scenario()), std::exception) << "no one has the tool yet";

  Runtime worker_rt(testing::cluster_test_options());
  worker_rt.register_tool("shout", [](const ToolCall& call) {
    auto text = call.input.get<std::string>();
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return json(text + "!");
  });
  WorkerOptions w;
  w.head_port = head.port();
  w.secret = "embedded secret";
  w.slots = 4;
  w.name = "embedded";
  auto worker = worker_rt.join(w);
  ASSERT_TRUE(worker->wait_joined(10000)) << worker->refused();

  auto result = head_rt.run(head_rt.load(shout_scenario()));
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.output, json({"AB!", "CD!", "EF!"}));
  auto status = head.status();
  ASSERT_EQ(status["workers"].size(), 1u) << status;
  EXPECT_EQ(status["workers"][0]["done"], 3) << status;

  // With the worker gone, the head cannot run the tool, and says so at placement.
  worker->stop();
  worker.reset();
  auto gone = head.wait_for_workers(1, 0);
  for (int i = 0; i < 200 && gone > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gone = head.status()["workers"].size();
  }
  ASSERT_EQ(gone, 0u);
  auto without = head_rt.run(head_rt.load(shout_scenario()));
  EXPECT_FALSE(without.ok());
  EXPECT_NE(without.error.find("no worker of this node has tool shout"), std::string::npos) << without.error;
}

// Joins by hand, as a worker of another build or a stranger would.
class RawJoin : public ::testing::Test {
 protected:
  void SetUp() override {
    node::cluster_options o;
    o.secret = "s3cret";
    head_ = std::make_unique<node::cluster_head>(head_rt_, o);
    auto& sys = runtime_access::system(other_rt_);
    auto h = sys.middleman().remote_actor("127.0.0.1", head_->port());
    ASSERT_TRUE(h) << sys.render(h.error());
    membership_ = *h;
    // What the head holds as the worker's host: it must outlive each join (a host
    // that ends is a worker lost).
    host_ = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
  }

  void TearDown() override { caf::anon_send_exit(host_, caf::exit_reason::user_shutdown); }

  worker_info info() {
    worker_info i;
    i.name = "raw";
    i.version = cohort_version_text;
    i.protocol = cluster_protocol;
    i.slots = 2;
    return i;
  }

  // hello (unless `skip_hello`), then join with `i` and the proof for `secret`.
  worker_welcome join(const worker_info& i, const std::string& secret, bool skip_hello = false) {
    caf::scoped_actor self{runtime_access::system(other_rt_)};
    std::string challenge;
    if (!skip_hello)
      self->request(membership_, std::chrono::seconds(5), hello_atom::value)
          .receive([&](std::string& c) { challenge = c; }, [&](caf::error&) {});
    worker_welcome out;
    out.refused = "no answer";
    self->request(membership_, std::chrono::seconds(5), join_atom::value, i, prove_cluster_secret(secret, challenge),
                  host_)
        .receive([&](worker_welcome& w) { out = w; }, [&](caf::error&) {});
    return out;
  }

  Runtime head_rt_{testing::cluster_test_options()};
  Runtime other_rt_{testing::cluster_test_options()};
  std::unique_ptr<node::cluster_head> head_;
  caf::actor membership_;
  caf::actor host_;
};

TEST_F(RawJoin, AnotherVersionOrProtocolIsRefusedSayingWhy) {
  auto old = info();
  old.version = "0.0.9";
  auto w = join(old, "s3cret");
  EXPECT_EQ(w.worker_id, 0u);
  EXPECT_EQ(w.refused, std::string("the worker is cohort 0.0.9, this head ") + cohort_version_text);
  auto other = info();
  other.protocol = cluster_protocol + 1;
  EXPECT_NE(join(other, "s3cret").refused.find("cluster protocol"), std::string::npos);
  auto greedy = info();
  greedy.slots = 0;
  EXPECT_EQ(join(greedy, "s3cret").refused, "slots must be 1..100000");
  EXPECT_EQ(head_->status()["refused_joins"], 3);
}

TEST_F(RawJoin, TheSecretIsProvenAgainstAFreshChallengeNeverSent) {
  EXPECT_EQ(join(info(), "not it").refused, "wrong cluster secret");
  EXPECT_EQ(join(info(), "s3cret", true).refused, "no open challenge: say hello first");
  auto w = join(info(), "s3cret");
  EXPECT_GT(w.worker_id, 0u) << w.refused;
  EXPECT_EQ(w.heartbeat_ms, 500);
  EXPECT_EQ(head_->status()["workers"].size(), 1u);
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// A member speaks only for itself: a beat for a worker's id that does not come from that
// worker's own host is refused (the worker is not kept alive by someone else).
TEST_F(RawJoin, ABeatNotFromTheWorkersOwnHostIsRefused) {
  auto w = join(info(), "s3cret");
  ASSERT_GT(w.worker_id, 0u) << w.refused;
  caf::scoped_actor stranger{runtime_access::system(other_rt_)};
  bool known = true;
  stranger->request(membership_, std::chrono::seconds(5), heartbeat_atom::value, w.worker_id)
      .receive([&](bool k) { known = k; }, [&](caf::error&) {});
  EXPECT_FALSE(known);
  EXPECT_EQ(head_->status()["workers"].size(), 1u) << "the worker itself is not harmed";
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// The cluster port answers strangers before they join: a run's scenario and input are
// not among what they can ask for.
TEST_F(RawJoin, AStrangerGetsNoRunsScenario) {
  json slow = {{"name", "secretive"},
               {"models", {{"m", {{"provider", "sim"}, {"latency_ms", 3000}}}}},
               {"agents", {{"a", {{"model", "m"}, {"prompt", "the secret plan"}}}}},
               {"workflow", {{"type", "fan_out"}, {"branches", {{{"agent", "a"}}}}}}};
  auto run = runtime_access::start(head_rt_, "run-secretive", head_rt_.load(slow), std::nullopt, nullptr, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its stand-in has asked the cluster by now
  caf::scoped_actor stranger{runtime_access::system(other_rt_)};
  run_spec got;
  got.run_id = "no answer";
  stranger->request(membership_, std::chrono::seconds(5), run_spec_atom::value, std::string("run-secretive"))
      .receive([&](run_spec& s) { got = s; }, [&](caf::error&) {});
  EXPECT_EQ(got.run_id, "");
  EXPECT_TRUE(got.scenario.is_null()) << got.scenario;
  run.cancel("done");
  run.wait();
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// What only the head's own process may ask of its membership: the cluster's status
// (worker names, labels, tools) is not for whoever reaches the port.
TEST_F(RawJoin, AStrangerGetsNoStatus) {
  caf::scoped_actor stranger{runtime_access::system(other_rt_)};
  json got;
  stranger->request(membership_, std::chrono::seconds(5), stats_atom::value)
      .receive([&](json& s) { got = s; }, [&](caf::error&) {});
  EXPECT_EQ(got, json({{"error", "not from this node"}}));
  EXPECT_TRUE(head_->status().contains("workers")) << "the head itself still asks";
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// A branch's cancel reaches its worker only from the head's own stand-in: a stranger
// on the cluster port who guesses request ids cannot withdraw branches (their stand-ins
// would wait for answers that are then dropped).
TEST_F(RawJoin, AStrangerCannotWithdrawBranches) {
  auto cancels = std::make_shared<std::atomic<int>>(0);
  auto orders = std::make_shared<std::atomic<int>>(0);
  caf::anon_send_exit(host_, caf::exit_reason::user_shutdown);
  host_ = runtime_access::system(other_rt_).spawn([cancels, orders](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(caf::drop);
    return {[=](const branch_cancel&) { ++*cancels; },
            [=](const std::vector<branch_order>& batch) { *orders += static_cast<int>(batch.size()); }};
  });
  auto w = join(info(), "s3cret");
  ASSERT_GT(w.worker_id, 0u) << w.refused;
  json slow = {{"name", "held"},
               {"models", {{"m", {{"provider", "sim"}, {"latency_ms", 3000}}}}},
               {"agents", {{"a", {{"model", "m"}, {"prompt", "hold"}}}}},
               {"workflow", {{"type", "fan_out"}, {"branches", {{{"agent", "a"}}}}}}};
  auto run = runtime_access::start(head_rt_, "run-held", head_rt_.load(slow), std::nullopt, nullptr, nullptr);
  for (int i = 0; i < 100 && orders->load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(orders->load(), 1) << "the branch was placed on the raw worker";
  caf::scoped_actor stranger{runtime_access::system(other_rt_)};
  for (uint64_t id = 1; id <= 2000; ++id) stranger->send(membership_, branch_cancel{id, "hostile"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(cancels->load(), 0) << "a stranger withdrew a branch";
  run.cancel("done");
  run.wait();
}

}  // namespace
}  // namespace cohort
