// The worker's host actor against a head played by the test (no middleman): what it
// does with a branch whose run it has not loaded yet.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "messages/cluster.hpp"
#include "runtime/runtime_access.hpp"
#include "runtime/worker_host.hpp"
#include "tests/support/stop_at_end.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;
using release_atom = caf::atom_constant<caf::atom("release")>;

// What the played head saw.
struct head_log {
  std::mutex mutex;
  std::vector<branch_answer> answers;

  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return answers.size();
  }
};

// A head that holds each run's spec until told (release_atom), and keeps the answers.
caf::behavior held_spec_head(caf::event_based_actor* self, std::shared_ptr<head_log> log, run_spec spec) {
  auto waiting = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [](heartbeat_atom, uint64_t) { return true; },
      [=](run_spec_atom, const std::string&) -> caf::result<run_spec> {
        waiting->push_back(self->make_response_promise());
        return waiting->back();
      },
      [=](release_atom) {
        for (auto& p : *waiting) p.deliver(spec);
        waiting->clear();
      },
      [=](std::vector<branch_answer>& answers) {
        std::lock_guard<std::mutex> lock(log->mutex);
        for (auto& a : answers) log->answers.push_back(std::move(a));
      },
  };
}

// The first branch of a run waits on the worker for the run's spec. A cancel in that
// time was lost: the branch started once the spec came and ran to its end, its slot
// on the head busy meanwhile. Now it is answered cancelled at once and never starts.
TEST(WorkerHost, ABranchCancelledWhileItsRunLoadsNeverStarts) {
  Runtime worker_rt(testing::cluster_test_options());
  auto calls = std::make_shared<std::atomic<int>>(0);
  worker_rt.register_tool("count", [calls](const ToolCall&) {
    ++*calls;
    return json(1);
  });
  auto& sys = runtime_access::system(worker_rt);

  run_spec spec;
  spec.run_id = "run-1";
  spec.scenario = {{"agents", {{"counter", {{"type", "tool"}, {"tool", "count"}}}}},
                   {"workflow", {{"agent", "counter"}}}};
  spec.input = json::object();
  spec.tool_names = {"count"};
  auto log = std::make_shared<head_log>();
  auto head = sys.spawn(held_spec_head, log, spec);
  worker_host_config config;
  config.runtime = &worker_rt;
  auto host = spawn_worker_host(sys, config);
  testing::stop_at_end stopper{{host, head}};
  caf::anon_send(host, joined_atom::value, head, uint64_t{1}, int32_t{1000});

  auto order = [](uint64_t id) {
    branch_order o;
    o.request_id = id;
    o.run_id = "run-1";
    o.agent = "counter";
    o.work.run_id = "run-1";
    o.work.path = "workflow/counter[" + std::to_string(id) + "]";
    return o;
  };
  caf::anon_send(host, std::vector<branch_order>{order(7), order(8)});
  caf::anon_send(host, branch_cancel{7, "the head says stop"});
  ASSERT_TRUE(testing::wait_until([&] { return log->count() >= 1; }, 3000)) << "the cancelled branch was not answered";
  {
    std::lock_guard<std::mutex> lock(log->mutex);
    ASSERT_EQ(log->answers.size(), 1u);
    EXPECT_EQ(log->answers[0].request_id, 7u);
    EXPECT_EQ(log->answers[0].outcome.status, outcome::cancelled);
    EXPECT_NE(log->answers[0].outcome.error.message.find("the head says stop"), std::string::npos);
  }

  // The spec comes: only the branch not cancelled runs, and each is answered once.
  caf::anon_send(head, release_atom::value);
  ASSERT_TRUE(testing::wait_until([&] { return log->count() >= 2; }, 3000)) << "the other branch did not run";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // room for a wrong extra answer
  std::lock_guard<std::mutex> lock(log->mutex);
  ASSERT_EQ(log->answers.size(), 2u);
  EXPECT_EQ(log->answers[1].request_id, 8u);
  EXPECT_EQ(log->answers[1].outcome.status, outcome::succeeded) << log->answers[1].outcome.error.message;
  EXPECT_EQ(calls->load(), 1);
}

}  // namespace
}  // namespace cohort
