// One run across processes (docs/cluster.md): a real `cohort serve --cluster-port` head
// and real `cohort worker` processes on 127.0.0.1. Placement by slots and labels, a
// worker killed or frozen mid-run, a wrong secret, rejoining, and the same output as on
// one machine.
#include <csignal>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// A head with a cluster port; the second line it prints says the port.
class head_process {
 public:
  explicit head_process(const std::string& name, std::vector<std::string> args = {}, int cluster_port = 0) {
    args.insert(args.begin(), {"--cluster-port", std::to_string(cluster_port)});
    node_ = std::make_unique<node_process>(fresh_dir(name), args);
    auto line = node_->process().read_line(10000);
    auto colon = line.rfind(':');
    if (line.find("cluster port") == std::string::npos || colon == std::string::npos)
      throw std::runtime_error("no cluster port line: \"" + line + "\"");
    cluster_port_ = std::stoi(line.substr(colon + 1));
  }
  int port() const { return node_->port(); }
  int cluster_port() const { return cluster_port_; }
  std::string join() const { return "127.0.0.1:" + std::to_string(cluster_port_); }
  json cluster() const { return json::parse(http_call(port(), "GET", "/v1/cluster").body, nullptr, false); }
  // Polls /v1/cluster until `done` holds (or timeout_ms); the last answer.
  json wait_cluster(const std::function<bool(const json&)>& done, int timeout_ms = 10000) const {
    auto until = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    json c;
    do {
      c = cluster();
      if (c.is_object() && done(c)) return c;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (clock_type::now() < until);
    return c;
  }
  child_process& process() { return node_->process(); }

 private:
  std::unique_ptr<node_process> node_;
  int cluster_port_ = 0;
};

std::unique_ptr<child_process> start_worker(const head_process& head, const std::string& name, int slots,
                                            std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{COHORT_BINARY, "--log-level",         "warn",   "worker", "--join", head.join(),
                                "--slots",     std::to_string(slots), "--name", name};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<child_process>(argv);
}

void expect_joined(child_process& w) {
  auto line = w.read_line(10000);
  ASSERT_NE(line.find("joined"), std::string::npos) << line << w.read_stderr(500);
}

// Workers w1, w2 and w3 of `slots` slots each, joined.
std::vector<std::unique_ptr<child_process>> three_workers(const head_process& head, int slots) {
  std::vector<std::unique_ptr<child_process>> out;
  for (auto name : {"w1", "w2", "w3"}) {
    out.push_back(start_worker(head, name, slots));
    expect_joined(*out.back());
  }
  return out;
}

const json* worker_named(const json& cluster, const std::string& name) {
  for (const auto& w : cluster["workers"])
    if (w["name"] == name) return &w;
  return nullptr;
}

// A fan-out of one sim agent over input.items, each answering after 20..60 ms with a seeded draw.
json spread_scenario(const json& placement = "any") {
  return {{"name", "spread"},
          {"models", {{"m", {{"provider", "sim"}, {"seed", 7}, {"latency_ms", {{"min", 20}, {"max", 60}}}}}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "item {{item}}"}, {"placement", placement}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "a"}}}}},
          {"input", {{"items", json::array()}}}};
}

json numbered(int n) {
  auto out = json::array();
  for (int i = 0; i < n; ++i) out.push_back(i);
  return out;
}

json run_on(int port, const json& scenario, const json& input, int timeout_ms = 60000) {
  auto id = submit(port, {{"scenario", scenario}, {"input", input}})["id"].get<std::string>();
  return wait_finished(port, id, timeout_ms);
}

TEST(Cluster, PlacementSpreadsBySlotsAndHonoursLabels) {
  head_process head("cluster-spread");
  auto w1 = start_worker(head, "small", 2);
  auto w2 = start_worker(head, "large", 8);
  auto w3 = start_worker(head, "gpu", 4, {"--labels", "gpu=1,zone=a"});
  for (auto* w : {w1.get(), w2.get(), w3.get()}) expect_joined(*w);

  auto done = run_on(head.port(), spread_scenario(), {{"items", numbered(200)}});
  ASSERT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ(done["output"].size(), 200u);
  auto c = head.cluster();
  int64_t small = (*worker_named(c, "small"))["done"], large = (*worker_named(c, "large"))["done"],
          gpu = (*worker_named(c, "gpu"))["done"];
  EXPECT_EQ(small + large + gpu, 200) << c;
  EXPECT_EQ(c["ran_on_head"], 0) << c;
  // Least loaded by free slots: the 8-slot worker takes more than the 2-slot one.
  EXPECT_GT(small, 0) << c;
  EXPECT_GT(large, 2 * small) << c;

  // Only a worker with every label asked for.
  auto labelled = run_on(head.port(), spread_scenario({{"labels", {{"gpu", "1"}}}}), {{"items", numbered(40)}});
  ASSERT_EQ(labelled["status"], "succeeded") << labelled;
  auto after = head.cluster();
  EXPECT_EQ((*worker_named(after, "gpu"))["done"].get<int64_t>(), gpu + 40) << after;
  EXPECT_EQ((*worker_named(after, "small"))["done"].get<int64_t>(), small) << after;
  EXPECT_EQ((*worker_named(after, "large"))["done"].get<int64_t>(), large) << after;

  // Labels no worker has: the branch fails at placement, saying what is missing.
  auto none = run_on(head.port(), spread_scenario({{"labels", {{"gpu", "2"}}}}), {{"items", numbered(1)}});
  EXPECT_EQ(none["status"], "failed") << none;
  EXPECT_NE(none.dump().find("no worker of this node has gpu=2"), std::string::npos) << none;
  EXPECT_NE(none.dump().find("placement"), std::string::npos) << none;

  // "local" stays on the head.
  auto local = run_on(head.port(), spread_scenario("local"), {{"items", numbered(5)}});
  EXPECT_EQ(local["status"], "succeeded") << local;
  EXPECT_EQ(head.cluster()["placed"], c["placed"].get<int64_t>() + 40) << "local branches were not placed";
}

TEST(Cluster, AKilledWorkerCostsOnlyRetriesAndTheOutputIsTheSingleMachineOne) {
  auto input = json{{"items", numbered(2000)}};
  node_process solo(fresh_dir("cluster-solo"));
  auto alone = run_on(solo.port(), spread_scenario(), input);
  ASSERT_EQ(alone["status"], "succeeded") << alone.dump().substr(0, 500);

  head_process head("cluster-kill");
  auto workers = three_workers(head, 16);
  auto id = submit(head.port(), {{"scenario", spread_scenario()}, {"input", input}})["id"].get<std::string>();
  auto mid = head.wait_cluster([](const json& c) { return c["answered"].get<int64_t>() >= 300; });
  ASSERT_GE(mid["answered"].get<int64_t>(), 300) << mid;
  ASSERT_LT(mid["answered"].get<int64_t>(), 1900) << "the run was nearly over before the kill: " << mid;
  workers[1]->signal(SIGKILL);
  auto lost = head.wait_cluster([](const json& c) { return c["lost_workers"] == 1; }, 2000);
  EXPECT_EQ(lost["lost_workers"], 1) << "the head did not notice the kill within 2 s: " << lost;
  auto done = wait_finished(head.port(), id, 60000);
  ASSERT_EQ(done["status"], "succeeded") << done.dump().substr(0, 800);
  EXPECT_EQ(done["output"], alone["output"]) << "the output differs from the single-machine run";
  EXPECT_EQ(done["branches"]["succeeded"], 2000) << done["branches"];
  auto c = head.cluster();
  EXPECT_GT(c["lost_branches"].get<int64_t>(), 0) << c;
  EXPECT_EQ(c["workers"].size(), 2u) << c;
  EXPECT_EQ(c["in_flight"], 0) << c;
  // Every lost branch ran again (counted once each as a retry, never as a failure).
  EXPECT_EQ(done["summary"]["retries"].get<int64_t>(), c["lost_branches"].get<int64_t>()) << done["summary"] << c;
  // The calls of the answered attempts, counted by agent on the head as on one machine.
  EXPECT_EQ(done["summary"]["model_calls"], 2000) << done["summary"];
  EXPECT_EQ(done["usage"]["agents"]["a"]["model_calls"], 2000) << done["usage"];
}

TEST(Cluster, AFrozenWorkerIsLostWithinTwoSecondsAndRejoinsWhenThawed) {
  head_process head("cluster-freeze");
  auto w1 = start_worker(head, "steady", 8);
  auto w2 = start_worker(head, "frozen", 8);
  expect_joined(*w1);
  expect_joined(*w2);
  auto slow = spread_scenario();
  slow["models"]["m"]["latency_ms"] = 1500;
  auto id = submit(head.port(), {{"scenario", slow}, {"input", {{"items", numbered(16)}}}})["id"].get<std::string>();
  auto busy = head.wait_cluster([](const json& c) {
    const auto* f = worker_named(c, "frozen");
    return f && (*f)["busy"].get<int>() > 0;
  });
  ASSERT_GT((*worker_named(busy, "frozen"))["busy"].get<int>(), 0) << busy;
  w2->signal(SIGSTOP);
  auto stopped_at = clock_type::now();
  auto lost = head.wait_cluster([](const json& c) { return c["lost_workers"] == 1; }, 5000);
  auto noticed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - stopped_at).count();
  EXPECT_EQ(lost["lost_workers"], 1) << lost;
  EXPECT_LE(noticed_ms, 2000) << "a frozen worker must be noticed within 2 s";
  EXPECT_GT(lost["lost_branches"].get<int64_t>(), 0) << lost;
  auto done = wait_finished(head.port(), id, 30000);
  EXPECT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ(done["branches"]["succeeded"], 16) << done;

  // Thawed, it learns it was declared lost, drops what it ran, and joins again.
  w2->signal(SIGCONT);
  auto back = head.wait_cluster([](const json& c) { return worker_named(c, "frozen") != nullptr; }, 10000);
  ASSERT_NE(worker_named(back, "frozen"), nullptr) << back;
  EXPECT_EQ((*worker_named(back, "frozen"))["busy"], 0) << back;
  auto again = run_on(head.port(), spread_scenario(), {{"items", numbered(64)}});
  EXPECT_EQ(again["status"], "succeeded") << again;
  EXPECT_GT((*worker_named(head.cluster(), "frozen"))["done"].get<int64_t>(), 0) << "the rejoined worker got no work";
}

// The head dies mid-run: the worker stops its model calls at once (none is left
// orphaned at the model server) and joins the head that comes back on the same port.
TEST(Cluster, AWorkerWhoseHeadDiesStopsItsCallsAndRejoinsTheNextHead) {
  mock_llm_process mock({"--latency-ms", "20000", "--threads", "2"});
  auto head = std::make_unique<head_process>("cluster-head-dies");
  auto port = head->cluster_port();
  auto worker = start_worker(*head, "survivor", 50);
  expect_joined(*worker);
  json doc = {{"name", "calls"},
              {"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"max_in_flight", 100}}}}},
              {"agents", {{"a", {{"model", "m"}, {"prompt", "item {{item}}"}}}}},
              {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "a"}}}}},
              {"input", {{"items", json::array()}}}};
  submit(head->port(), {{"scenario", doc}, {"input", {{"items", numbered(20)}}}});
  auto busy = wait_stats(
      mock.port(), [](const json& s) { return s["in_flight"] == 20; }, 10000);
  ASSERT_EQ(busy["in_flight"], 20) << "the worker is not making the calls: " << busy;
  head->process().signal(SIGKILL);
  head->process().wait(5000);
  auto quiet = wait_stats(
      mock.port(), [](const json& s) { return s["in_flight"] == 0; }, 3000);
  EXPECT_EQ(quiet["in_flight"], 0) << "orphaned model calls: " << quiet;
  EXPECT_EQ(quiet["client_cancellations"], 20) << quiet;
  EXPECT_EQ(worker->wait(0), -1) << "the worker must outlive its head";

  head_process again("cluster-head-again", {}, port);
  auto back = again.wait_cluster([](const json& c) { return worker_named(c, "survivor") != nullptr; }, 10000);
  ASSERT_NE(worker_named(back, "survivor"), nullptr) << back;
  auto done = run_on(again.port(), spread_scenario(), {{"items", numbered(20)}});
  EXPECT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ((*worker_named(again.cluster(), "survivor"))["done"], 20);
}

// `cohort run FILE --workers`: the run dials workers that listen, proves the secret to
// them, and places its agents there; the workers serve the next run after it.
TEST(Cluster, ACliRunInvitesListeningWorkersThatCheckItsSecret) {
  setenv("COHORT_TEST_LISTEN_SECRET", "listen secret", 1);
  setenv("COHORT_TEST_LISTEN_WRONG", "not it", 1);
  std::vector<std::unique_ptr<child_process>> workers;
  std::string list;
  for (auto name : {"l1", "l2"}) {
    workers.push_back(std::make_unique<child_process>(
        std::vector<std::string>{COHORT_BINARY, "--log-level", "warn", "worker", "--listen", "127.0.0.1:0", "--name",
                                 name, "--labels", "zone=w", "--secret-env", "COHORT_TEST_LISTEN_SECRET"}));
    auto line = workers.back()->read_line(10000);
    ASSERT_NE(line.find("listening on 127.0.0.1:"), std::string::npos) << line;
    list += (list.empty() ? "" : ",") + line.substr(line.rfind(' ') + 1);
  }
  auto placed = spread_scenario({{"labels", {{"zone", "w"}}}});
  placed["input"]["items"] = numbered(100);
  auto file = fresh_dir("cluster-cli") + ".json";
  std::ofstream(file) << placed.dump();
  auto plain = placed;
  plain["agents"]["a"].erase("placement");
  auto plain_file = fresh_dir("cluster-cli-plain") + ".json";
  std::ofstream(plain_file) << plain.dump();

  child_process wrong({COHORT_BINARY, "run", file, "--json", "-q", "--workers", list, "--cluster-secret-env",
                       "COHORT_TEST_LISTEN_WRONG"});
  EXPECT_EQ(wrong.wait(20000), 2);
  EXPECT_NE(wrong.read_stderr(1000).find("refused: wrong cluster secret"), std::string::npos);

  child_process alone({COHORT_BINARY, "run", plain_file, "--json", "-q"});
  auto alone_doc = json::parse(alone.read_all(30000), nullptr, false);
  for (int round = 0; round < 2; ++round) {  // the workers serve one head after another
    child_process run({COHORT_BINARY, "run", file, "--json", "-q", "--workers", list, "--cluster-secret-env",
                       "COHORT_TEST_LISTEN_SECRET"});
    auto out = run.read_all(30000);
    ASSERT_EQ(run.wait(5000), 0) << out << run.read_stderr(1000);
    auto doc = json::parse(out, nullptr, false);
    EXPECT_EQ(doc["status"], "succeeded") << out;
    EXPECT_EQ(doc["output"], alone_doc["output"]) << "round " << round;
  }
  // Without workers there is no cluster: placement does not apply, the run is this machine's.
  child_process none({COHORT_BINARY, "run", file, "--json", "-q"});
  auto none_doc = json::parse(none.read_all(30000), nullptr, false);
  EXPECT_EQ(none_doc["status"], "succeeded") << none_doc;
}

// A worker makes a model's calls itself, with its own definition of the alias when it
// has one (--models: the vLLM next to it); a model that says "via": "head" is called
// through the head's pool instead.
TEST(Cluster, AWorkerCallsItsOwnModelUnlessTheModelGoesViaTheHead) {
  mock_llm_process heads_server({"--latency-ms", "5"});
  mock_llm_process workers_server({"--latency-ms", "5"});
  auto models = fresh_dir("cluster-models") + ".json";
  std::ofstream(models) << json{{"models", {{"m", {{"provider", "openai"}, {"base_url", workers_server.base_url()}}}}}}
                               .dump();
  head_process head("cluster-models");
  auto worker = start_worker(head, "gpu-box", 8, {"--models", models});
  expect_joined(*worker);
  json doc = {{"name", "calls"},
              {"models", {{"m", {{"provider", "openai"}, {"base_url", heads_server.base_url()}}}}},
              {"agents", {{"a", {{"model", "m"}, {"prompt", "item {{item}}"}}}}},
              {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "a"}}}}},
              {"input", {{"items", numbered(10)}}}};
  auto own = run_on(head.port(), doc, doc["input"]);
  ASSERT_EQ(own["status"], "succeeded") << own;
  EXPECT_EQ(mock_stats(workers_server.port())["requests"], 10);
  EXPECT_EQ(mock_stats(heads_server.port())["requests"], 0);

  doc["models"]["m"]["via"] = "head";
  auto via = run_on(head.port(), doc, doc["input"]);
  ASSERT_EQ(via["status"], "succeeded") << via;
  EXPECT_EQ(mock_stats(heads_server.port())["requests"], 10);
  EXPECT_EQ(mock_stats(workers_server.port())["requests"], 10) << "unchanged";
  EXPECT_EQ((*worker_named(head.cluster(), "gpu-box"))["done"], 20) << "both runs' agents ran on the worker";
}

TEST(Cluster, AWrongSecretIsRefusedOnBothSides) {
  setenv("COHORT_TEST_CLUSTER_SECRET", "right horse battery staple", 1);
  setenv("COHORT_TEST_WRONG_SECRET", "wrong horse", 1);
  head_process head("cluster-secret", {"--cluster-secret-env", "COHORT_TEST_CLUSTER_SECRET"});
  auto wrong = start_worker(head, "intruder", 4, {"--secret-env", "COHORT_TEST_WRONG_SECRET"});
  EXPECT_EQ(wrong->wait(10000), 2);
  auto said = wrong->read_stderr(1000);
  EXPECT_NE(said.find("refused this worker: wrong cluster secret"), std::string::npos) << said;
  EXPECT_EQ(said.find("right horse"), std::string::npos) << "the secret was printed";
  auto none = start_worker(head, "no-secret", 4);
  EXPECT_EQ(none->wait(10000), 2);
  auto c = head.cluster();
  EXPECT_EQ(c["refused_joins"], 2) << c;
  EXPECT_TRUE(c["workers"].empty()) << c;
  auto right = start_worker(head, "member", 4, {"--secret-env", "COHORT_TEST_CLUSTER_SECRET"});
  expect_joined(*right);
  auto done = run_on(head.port(), spread_scenario(), {{"items", numbered(10)}});
  EXPECT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ((*worker_named(head.cluster(), "member"))["done"], 10);
}

TEST(Cluster, AClusterPortOffLoopbackNeedsASecret) {
  child_process serve({COHORT_BINARY, "serve", "--port", "0", "--data", fresh_dir("cluster-open"), "--cluster-port",
                       "0", "--cluster-bind", "0.0.0.0"});
  EXPECT_EQ(serve.wait(10000), 2);
  EXPECT_NE(serve.read_stderr(1000).find("--cluster-secret-env"), std::string::npos);
}

TEST(Cluster, OpinionDynamicsOverThreeWorkersGivesTheSingleMachineTranscript) {
  auto scenario = scenario_file("opinion-dynamics.json");
  node_process solo(fresh_dir("cluster-opinions-solo"));
  auto alone = run_on(solo.port(), scenario, scenario["input"], 120000);
  ASSERT_EQ(alone["status"], "succeeded") << alone.dump().substr(0, 500);

  head_process head("cluster-opinions");
  auto workers = three_workers(head, 64);
  auto spread = run_on(head.port(), scenario, scenario["input"], 120000);
  ASSERT_EQ(spread["status"], "succeeded") << spread.dump().substr(0, 500);
  EXPECT_EQ(spread["output"], alone["output"]);
  auto c = head.cluster();
  for (auto name : {"w1", "w2", "w3"}) EXPECT_GT((*worker_named(c, name))["done"].get<int64_t>(), 0) << c;
}

}  // namespace
}  // namespace cohort::testing
