// The run's deadline holds on big fan-outs: nothing starts after it, the run ends soon
// after it as timed_out, and every branch counted as succeeded is in the output.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::mock_llm_process;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

json big_fan_out(size_t items, int timeout_ms, json aggregate = "collect") {
  auto list = json::array();
  for (size_t i = 0; i < items; ++i) list.push_back(i);
  json fan_out = {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "worker"},
                  {"max_concurrency", 100}, {"aggregate", std::move(aggregate)}, {"policy", "all_settled"}};
  return {{"name", "deadline"},
          {"timeout_ms", timeout_ms},
          {"models", {{"sim", {{"provider", "sim"}, {"latency_ms", {{"min", 1}, {"max", 4}}}}}}},
          {"agents", {{"worker", {{"type", "llm"}, {"model", "sim"}, {"prompt", "item {{item}}"}}}}},
          {"workflow", std::move(fan_out)},
          {"input", {{"items", std::move(list)}}}};
}

int64_t settled(const cohort::RunResult& r) {
  return r.branches.succeeded + r.branches.failed + r.branches.timed_out + r.branches.cancelled;
}

}  // namespace

TEST(RunDeadline, ABigFanOutEndsAtItsDeadlineWithWhatFinished) {
  cohort::Runtime rt(test_options());
  const size_t items = 100000;
  auto r = rt.run(rt.load(big_fan_out(items, 500)));
  EXPECT_EQ(r.status, "timed_out") << r.error;
  EXPECT_EQ(r.error_kind, "timeout");
  // Ends soon after the deadline (not after every queued branch ran), and well before
  // the driver would give up on the workflow.
  EXPECT_LT(r.summary.wall_ms, 500 + 2000);
  EXPECT_EQ(settled(r), static_cast<int64_t>(items));
  EXPECT_GT(r.branches.succeeded, 0);
  EXPECT_GT(r.branches.cancelled, 0);  // the ones never started
  ASSERT_TRUE(r.output.is_array());
  ASSERT_EQ(r.output.size(), items);
  int64_t present = 0;
  for (const auto& o : r.output) present += o.is_string() ? 1 : 0;
  EXPECT_EQ(present, r.branches.succeeded);  // counted means present
}

TEST(RunDeadline, AJoinedFanOutThatTimesOutKeepsItsShape) {
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(big_fan_out(20000, 300, {{"type", "join"}, {"separator", "|"}})));
  EXPECT_EQ(r.status, "timed_out");
  ASSERT_TRUE(r.output.is_string()) << r.output.type_name();  // not an array of nulls
  const auto& text = r.output.get_ref<const std::string&>();
  auto pieces = text.empty() ? 0 : 1 + std::count(text.begin(), text.end(), '|');
  EXPECT_EQ(pieces, r.branches.succeeded);
}

TEST(RunDeadline, AFanOutWithoutALimitKeepsTheDefaultInFlight) {
  auto options = test_options();
  options.default_max_concurrency = 50;
  cohort::Runtime rt(options);
  auto doc = big_fan_out(2000, 60000);
  doc["workflow"].erase("max_concurrency");
  std::atomic<int> running{0}, peak{0};
  auto r = rt.run(rt.load(doc), std::nullopt, [&](const cohort::Event& e) {
    if (e.path.find("worker[") == std::string::npos) return;
    if (e.kind == "started") peak = std::max(peak.load(), ++running);
    else if (e.kind == "finished") --running;
  });
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 2000);
  EXPECT_LE(peak.load(), 50);
  EXPECT_GT(peak.load(), 1);
}

// Branches never started share one event past the first 1,000: with a listener, a
// decided 100,000-branch fan-out still answers soon after its deadline.
TEST(RunDeadline, UnstartedBranchesBeyondAThousandShareOneEvent) {
  cohort::Runtime rt(test_options());
  int64_t not_started = 0, summaries = 0;
  auto r = rt.run(rt.load(big_fan_out(100000, 300)), std::nullopt, [&](const cohort::Event& e) {
    if (e.kind != "finished" || e.status != "cancelled") return;
    if (e.message.rfind("not started:", 0) == 0) ++not_started;
    if (e.path == "fan_out/*" || (e.path.size() > 2 && e.path.compare(e.path.size() - 2, 2, "/*") == 0)) {
      ++summaries;
      EXPECT_NE(e.message.find("more branches not started"), std::string::npos) << e.message;
    }
  });
  EXPECT_EQ(r.status, "timed_out");
  EXPECT_LT(r.summary.wall_ms, 300 + 2000);
  EXPECT_EQ(not_started, 1000);
  EXPECT_EQ(summaries, 1);
}

// A cancel crosses answers already on their way: a branch counted as succeeded is in
// the partial output (it used to be counted and missing).
TEST(RunDeadline, ACancelledRunKeepsEveryCountedSuccess) {
  cohort::Runtime rt(test_options());
  for (int round = 0; round < 3; ++round) {
    auto run = rt.start(rt.load(big_fan_out(30000, 60000)));
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 50 * round));
    run.cancel("interrupted (test)");
    auto r = run.wait();
    EXPECT_EQ(r.status, "cancelled");
    EXPECT_EQ(settled(r), 30000);
    ASSERT_TRUE(r.output.is_array());
    int64_t present = 0;
    for (const auto& o : r.output) present += o.is_string() ? 1 : 0;
    EXPECT_GT(present, 0);
    EXPECT_EQ(present, r.branches.succeeded);
  }
}

namespace {

// The root is one agent whose first call gets a 429 with `Retry-After: retry_after_s`
// (a backoff without jitter), retried by the root's own policy.
json rate_limited_root(const std::string& base_url, int timeout_ms) {
  return {{"name", "root-retry"},
          {"timeout_ms", timeout_ms},
          {"models", {{"m", {{"provider", "openai"}, {"base_url", base_url}}}}},
          {"agents", {{"a", {{"type", "llm"}, {"model", "m"}, {"prompt", "hi"}}}}},
          {"workflow", {{"agent", "a"}, {"retry", {{"max_attempts", 3}, {"retry_on", {"rate_limited"}}}}}}};
}

}  // namespace

// A retry that could not start before the deadline is not waited for: the run ends at
// once with the failed attempt's result and counts (it used to wait for the deadline
// and report a bare timeout with every count 0).
TEST(RunDeadline, ARootRetryPastTheDeadlineEndsWithTheLastAttempt) {
  mock_llm_process mock({"--fail-first", "1", "--fail-first-with", "429", "--retry-after", "30"});
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(rate_limited_root(mock.base_url(), 5000)));
  EXPECT_EQ(r.status, "failed") << r.error;
  EXPECT_EQ(r.error_kind, "rate_limited") << r.error;
  EXPECT_EQ(r.branches.failed, 1);
  EXPECT_EQ(r.summary.retries, 0);
  EXPECT_EQ(r.summary.model_calls, 1);
  EXPECT_LT(r.summary.wall_ms, 4000) << "ended without waiting for the deadline";
}

// Cancelled while the root waits to retry: the last attempt is the run's, as cancelled.
TEST(RunDeadline, CancellingBetweenRootAttemptsKeepsTheLastAttempt) {
  mock_llm_process mock({"--fail-first", "1", "--fail-first-with", "429", "--retry-after", "20"});
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(rate_limited_root(mock.base_url(), 60000)));
  // The first attempt was answered (429), then a moment for its result to reach the driver.
  cohort::testing::wait_stats(mock.port(), [](const json& st) { return st["requests"] == 1; }, 10000);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  run.cancel("stop");
  auto r = run.wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value()) << "the run must end promptly after cancel";
  EXPECT_EQ(r->status, "cancelled") << r->error;
  EXPECT_NE(r->error.find("stop"), std::string::npos) << r->error;
  EXPECT_NE(r->error.find("rate_limited"), std::string::npos) << "names the last attempt: " << r->error;
  EXPECT_EQ(r->branches.failed, 1);
  EXPECT_EQ(r->summary.model_calls, 1);
  EXPECT_EQ(r->summary.retries, 0) << "the retry never ran";
}

// The same inside a pattern: a branch whose retry could not start before the
// deadline ends with its failed attempt at once, not as a timeout at the deadline.
TEST(RunDeadline, ABranchRetryPastTheDeadlineEndsWithTheLastAttempt) {
  mock_llm_process mock({"--fail-first", "1", "--fail-first-with", "429", "--retry-after", "30"});
  cohort::Runtime rt(test_options());
  auto doc = rate_limited_root(mock.base_url(), 5000);
  doc["workflow"] = {{"type", "fan_out"},
                     {"policy", "all_settled"},
                     {"branches", json::array({doc["workflow"]})}};
  auto r = rt.run(rt.load(doc));
  EXPECT_EQ(r.branches.failed, 1) << r.error;
  EXPECT_EQ(r.branches.timed_out, 0);
  EXPECT_EQ(r.summary.retries, 0);
  EXPECT_LT(r.summary.wall_ms, 4000) << "ended without waiting for the deadline";
}
