// Submit and wait in one request (POST /v1/runs with "wait_ms") on a real `cohort serve`:
// the answer comes when the run ends, with its output, or when the wait runs out, with
// the run still running; a queued run's wait covers its time in the queue.
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;
using wait_clock = std::chrono::steady_clock;

int64_t ms_since(wait_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(wait_clock::now() - t).count();
}

http_answer submit_and_wait(int port, const json& scenario, int64_t wait_ms, const json& extra = json::object()) {
  json body{{"scenario", scenario}, {"wait_ms", wait_ms}};
  body.update(extra);
  return http_call(port, "POST", "/v1/runs", body.dump(), {}, 20000);
}

TEST(NodeWait, TheAnswerComesWhenTheRunEndsWithItsOutput) {
  node_process node(fresh_dir("wait-ends"));
  auto t = wait_clock::now();
  auto answer = submit_and_wait(node.port(), slow_scenario(400), 15000);
  auto took = ms_since(t);
  ASSERT_EQ(answer.status, 201) << answer.body;
  auto doc = json::parse(answer.body);
  EXPECT_EQ(doc["status"], "succeeded");
  EXPECT_FALSE(doc["output"].is_null()) << answer.body;
  EXPECT_EQ(doc["branches"]["succeeded"], 1);
  EXPECT_GE(took, 350);  // it waited for the model's 400 ms
  EXPECT_EQ(answer.headers["location"], "/v1/runs/" + doc["id"].get<std::string>());
  // The same document as GET gives.
  auto got = json::parse(http_call(node.port(), "GET", "/v1/runs/" + doc["id"].get<std::string>()).body);
  EXPECT_EQ(got["output"], doc["output"]);
}

TEST(NodeWait, AWaitThatRunsOutAnswersWithTheRunStillRunning) {
  node_process node(fresh_dir("wait-runs-out"));
  auto t = wait_clock::now();
  auto answer = submit_and_wait(node.port(), slow_scenario(2500), 300);
  auto took = ms_since(t);
  ASSERT_EQ(answer.status, 201) << answer.body;
  auto doc = json::parse(answer.body);
  EXPECT_EQ(doc["status"], "running");
  EXPECT_FALSE(doc.contains("output"));
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 2000);  // not the run's 2.5 s
  EXPECT_EQ(wait_finished(node.port(), doc["id"].get<std::string>())["status"], "succeeded");
}

TEST(NodeWait, AShortWaitAfterALongOneIsAnsweredOnItsOwnTime) {
  node_process node(fresh_dir("wait-order"));
  auto long_wait = std::async(std::launch::async, [&] { return submit_and_wait(node.port(), slow_scenario(3500), 3000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the long wait is registered first
  auto t = wait_clock::now();
  auto answer = submit_and_wait(node.port(), slow_scenario(3500), 200);
  auto took = ms_since(t);
  EXPECT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(json::parse(answer.body)["status"], "running");
  EXPECT_LT(took, 1800);  // not held until the earlier wait's 3 s
  auto first = long_wait.get();
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(json::parse(first.body)["status"], "running");
}

TEST(NodeWait, AQueuedRunsWaitCoversItsTimeInTheQueue) {
  node_process node(fresh_dir("wait-queued"), {"--max-runs", "1", "--queue", "1"});
  auto first = submit(node.port(), {{"scenario", slow_scenario(800)}})["id"].get<std::string>();
  auto answer = submit_and_wait(node.port(), slow_scenario(0), 15000);
  ASSERT_EQ(answer.status, 201) << answer.body;
  auto doc = json::parse(answer.body);
  EXPECT_EQ(doc["status"], "succeeded");
  EXPECT_FALSE(doc.contains("queue_position"));
  EXPECT_EQ(json::parse(http_call(node.port(), "GET", "/v1/runs/" + first).body)["status"], "succeeded");
}

TEST(NodeWait, AKnownIdempotencyKeyAnswersWithTheEndedRun) {
  node_process node(fresh_dir("wait-key"));
  json key{{"idempotency_key", "nightly-7"}};
  auto created = submit_and_wait(node.port(), slow_scenario(0), 15000, key);
  ASSERT_EQ(created.status, 201) << created.body;
  auto again = submit_and_wait(node.port(), slow_scenario(0), 15000, key);
  ASSERT_EQ(again.status, 200) << again.body;
  auto a = json::parse(created.body), b = json::parse(again.body);
  EXPECT_EQ(a["id"], b["id"]);
  EXPECT_EQ(b["status"], "succeeded");
  EXPECT_EQ(a["output"], b["output"]);
}

// The waiters gauge, or -1 when /metrics does not show it.
int waiters(int port) {
  auto text = http_call(port, "GET", "/metrics").body;
  auto at = text.find("\ncohort_run_waiters ");
  return at == std::string::npos ? -1 : std::stoi(text.substr(at + 20));
}

// The waiters gauge once it shows `want`, or what it showed last after `within_ms`.
int waiters_reaching(int port, int want, int within_ms) {
  int seen = waiters(port);
  for (auto until = wait_clock::now() + std::chrono::milliseconds(within_ms); seen != want && wait_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    seen = waiters(port);
  }
  return seen;
}

TEST(NodeWait, AClientThatHangsUpLeavesNoWaitBehind) {
  node_process node(fresh_dir("wait-hangup"));
  // Gives up after 400 ms of a 60 s wait on a 2.5 s run.
  http_post_stream(node.port(), "/v1/runs", json{{"scenario", slow_scenario(2500)}, {"wait_ms", 60000}}.dump(), {}, 400);
  EXPECT_EQ(waiters_reaching(node.port(), 0, 1500), 0);  // 1.5 s for the node to see the hang-up
  auto runs = json::parse(http_call(node.port(), "GET", "/v1/runs").body)["runs"];
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "running");  // withdrawn while the run still runs; the run goes on
  EXPECT_EQ(wait_finished(node.port(), runs[0]["id"].get<std::string>())["status"], "succeeded");
  // A client that stays is counted while it waits.
  auto waiting = std::async(std::launch::async, [&] { return submit_and_wait(node.port(), slow_scenario(1500), 60000); });
  EXPECT_EQ(waiters_reaching(node.port(), 1, 1000), 1);
  EXPECT_EQ(waiting.get().status, 201);
  EXPECT_EQ(waiters(node.port()), 0);
}

TEST(NodeWait, ABadWaitIsRefusedNamingIt) {
  node_process node(fresh_dir("wait-bad"));
  for (const json& bad : {json(-1), json("5s"), json(300001), json(1.5)}) {
    auto answer = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", slow_scenario(0)}, {"wait_ms", bad}}.dump());
    EXPECT_EQ(answer.status, 400) << bad.dump();
    EXPECT_NE(answer.body.find("$.wait_ms"), std::string::npos) << answer.body;
  }
  auto runs = json::parse(http_call(node.port(), "GET", "/v1/runs").body);
  EXPECT_TRUE(runs["runs"].empty());  // nothing was started for a refused request
}

}  // namespace
}  // namespace cohort::testing
