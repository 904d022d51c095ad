// Retries (against real `cohort mock-llm` fault injection and the sim model) and the
// fan_out failure policies: fail_fast, fail_soft with min_success, all_settled, with
// required and optional branches.
#include <chrono>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::http_get;
using cohort::testing::mock_llm_process;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

json items(int n) {
  json xs = json::array();
  for (int i = 0; i < n; ++i) xs.push_back(i);
  return xs;
}

class Failures : public ::testing::Test {
 protected:
  cohort::Runtime rt{test_options()};
};

}  // namespace

TEST_F(Failures, RetriesRecoverFromInjectedServerFaults) {
  mock_llm_process mock({"--fault-rate", "0.4", "--faults", "500,malformed,drop", "--seed", "3"});
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input"},
                                   {"do", {{"agent", "a"}, {"retry", {{"max_attempts", 10}, {"backoff_ms", 5}}}}}}},
                     {"input", items(30)}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 30);
  EXPECT_EQ(r.branches.failed, 0);
  EXPECT_GT(r.summary.retries, 0);
  EXPECT_DOUBLE_EQ(r.summary.success_rate, 1.0);
  auto s = json::parse(http_get(mock.port(), "/stats"));
  int64_t faults = 0;
  for (auto& [kind, n] : s["faults"].items()) faults += n.get<int64_t>();
  EXPECT_EQ(s["requests"].get<int64_t>(), 30 + faults) << s.dump();
  // Each fault was retried by the engine, except a dropped connection that the HTTP
  // client resends once by itself (it cannot tell it from a stale keep-alive one).
  EXPECT_LE(r.summary.retries, faults);
  EXPECT_GE(r.summary.retries, faults - s["faults"]["drop"].get<int64_t>());
}

TEST_F(Failures, RetryAfterOfA429IsHonoured) {
  mock_llm_process mock({"--fault-rate", "1", "--faults", "429", "--retry-after", "1"});
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call"}}}}},
                     {"workflow", {{"type", "pipeline"}, {"steps", {{{"agent", "a"}, {"retry", {{"max_attempts", 2}, {"backoff_ms", 1}}}}}}}}});
  auto started = std::chrono::steady_clock::now();
  auto r = rt.run(sc);
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "rate_limited");
  EXPECT_EQ(r.summary.retries, 1);
  // backoff_ms alone would retry within a millisecond; Retry-After: 1 asks for a second.
  EXPECT_GE(waited, std::chrono::milliseconds(950));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
  auto s = json::parse(http_get(mock.port(), "/stats"));
  EXPECT_EQ(s["requests"], 2) << s.dump();
}

TEST_F(Failures, TheRunsRetryBudgetCapsAllRetries) {
  auto sc = rt.load({{"models", {{"broken", {{"provider", "sim"}, {"failure_rate", 1.0}}}}},
                     {"agents", {{"a", {{"model", "broken"}, {"prompt", "x {{item}}"}}}}},
                     {"retry_budget", 3},
                     {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"policy", "all_settled"},
                                   {"do", {{"agent", "a"}, {"retry", {{"max_attempts", 5}, {"backoff_ms", 1}}}}}}},
                     {"input", items(10)}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.summary.retries, 3);
  EXPECT_EQ(r.branches.failed, 10);
  EXPECT_EQ(r.summary.model_calls, 13);
}

TEST_F(Failures, OnlyTheNamedClassesAreRetried) {
  auto doc = json::parse(R"J({
    "models": {"m": {"provider": "sim", "rules": [{"match": ".", "reply": "not json"}]}},
    "agents": {"a": {"model": "m", "prompt": "q", "output": "json"}},
    "workflow": {"type": "pipeline", "steps": [{"agent": "a", "retry": {"max_attempts": 3, "backoff_ms": 1}}]}
  })J");
  auto r = rt.run(rt.load(doc));
  EXPECT_EQ(r.error_kind, "invalid_output");
  EXPECT_EQ(r.summary.retries, 0);  // invalid_output is not retried unless asked for
  doc["workflow"]["steps"][0]["retry"]["retry_on"] = {"invalid_output"};
  r = rt.run(rt.load(doc));
  EXPECT_EQ(r.summary.retries, 2);
  EXPECT_EQ(r.summary.model_calls, 3);
}

namespace {

// Five branches: "ok" agents succeed, "bad" ones fail at once.
json five(const std::vector<std::string>& which, json extra) {
  json branches = json::array();
  for (auto& w : which) branches.push_back({{"agent", w}});
  json wf{{"type", "fan_out"}, {"branches", branches}};
  wf.update(extra);
  return {{"models", {{"m", {{"provider", "sim"}, {"latency_ms", 5}, {"rules", {{{"match", "."}, {"reply", "fine"}}}}}},
                      {"broken", {{"provider", "sim"}, {"failure_rate", 1.0}}}}},
          {"agents", {{"ok", {{"model", "m"}, {"prompt", "q"}}}, {"bad", {{"model", "broken"}, {"prompt", "q"}}}}},
          {"workflow", wf}};
}

}  // namespace

TEST_F(Failures, FailSoftGoesOnWhileMinSuccessCanBeReached) {
  auto r = rt.run(rt.load(five({"ok", "bad", "ok", "bad", "ok"}, {{"policy", "fail_soft"}, {"min_success", 3}})));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"fine", "fine", "fine"}));
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["failed"], 2);
  EXPECT_DOUBLE_EQ(rep["success_rate"].get<double>(), 0.6);
  ASSERT_EQ(rep["failures"].size(), 2u);
  EXPECT_EQ(rep["failures"][0]["path"], "workflow/bad[1]");
  EXPECT_EQ(rep["failures"][0]["kind"], "model_error");
  EXPECT_EQ(rep["failures"][0]["attempts"], 1);

  auto r2 = rt.run(rt.load(five({"ok", "bad", "ok", "bad", "ok"}, {{"policy", "fail_soft"}, {"min_success", 4}})));
  EXPECT_EQ(r2.error_kind, "too_few_successes");
  EXPECT_NE(r2.error.find("fewer than min_success 4"), std::string::npos) << r2.error;
}

TEST_F(Failures, AllSettledReportsEveryOutcome) {
  auto r = rt.run(rt.load(five({"bad", "ok", "bad", "bad", "ok"}, {{"policy", "all_settled"}})));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output.size(), 2u);
  EXPECT_EQ(r.reports.at("workflow")["failed"], 3);
  EXPECT_EQ(r.branches.failed, 3);
  EXPECT_EQ(r.branches.succeeded, 2);
  EXPECT_DOUBLE_EQ(r.summary.success_rate, 0.4);

  auto doc = five({"ok", "bad"}, {{"policy", "all_settled"}});
  doc["workflow"]["branches"][1]["required"] = true;
  auto r2 = rt.run(rt.load(doc));
  EXPECT_EQ(r2.error_kind, "required_failed");
  EXPECT_EQ(r2.branches.succeeded, 1);  // the other branch still ran to its end
}

TEST_F(Failures, FailFastSparesOptionalBranches) {
  auto doc = five({"ok", "bad", "ok"}, json::object());
  auto r = rt.run(rt.load(doc));
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "model_error");
  doc["workflow"]["branches"][1]["required"] = false;
  r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"fine", "fine"}));
  EXPECT_EQ(r.reports.at("workflow")["failures"][0]["path"], "workflow/bad[1]");
}

// An agent whose handler throws something that is not a std::exception dies; its
// supervisor notices through its monitor and the branch ends `crashed`.
TEST_F(Failures, ACrashedAgentIsOneFailedBranch) {
  rt.register_tool("fragile", [](const cohort::ToolCall& c) -> json {
    if (c.input == 2) throw 42;
    return c.input;
  });
  auto r = rt.run(rt.load({{"models", json::object()},
                           {"agents", {{"f", {{"type", "tool"}, {"tool", "fragile"}}}}},
                           {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"agent", "f"}, {"policy", "all_settled"}}},
                           {"input", items(5)}}));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({0, 1, 3, 4}));
  const auto& failures = r.reports.at("workflow")["failures"];
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]["kind"], "crashed");
  EXPECT_EQ(failures[0]["path"], "workflow/f[2]");

  // The workflow root itself crashing ends the run at once, not at its timeout.
  auto started = std::chrono::steady_clock::now();
  auto root = rt.run(rt.load({{"models", json::object()},
                              {"agents", {{"f", {{"type", "tool"}, {"tool", "fragile"}}}}},
                              {"workflow", {{"agent", "f"}}},
                              {"input", 2}}));
  EXPECT_EQ(root.error_kind, "crashed");
  EXPECT_EQ(root.error.rfind("f: the workflow ", 0), 0u)
      << "the crashed root is named by its path: " << root.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

// A child never gets more time than its parent has left.
TEST_F(Failures, DeadlinesPropagateDownTheTree) {
  auto r = rt.run(rt.load(json::parse(R"J({
    "models": {"slow": {"provider": "sim", "latency_ms": 2000}},
    "agents": {"a": {"model": "slow", "prompt": "q", "timeout_ms": 10000}},
    "workflow": {"type": "pipeline", "steps": [
      {"type": "fan_out", "timeout_ms": 150, "branches": [
        {"type": "pipeline", "steps": [{"agent": "a"}]}]}]}
  })J")));
  EXPECT_EQ(r.status, "timed_out");
  EXPECT_LT(r.summary.wall_ms, 1000);  // the agent's own 10 s did not count: 150 ms from above did
  EXPECT_EQ(r.branches.timed_out + r.branches.cancelled, 1);
}
