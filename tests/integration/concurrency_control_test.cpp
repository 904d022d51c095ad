// Concurrency control across a whole run: the run-wide agent limit, named resource
// pools, priorities of queued work, agent pools, the DAG's failure policies, and the
// events of branches that never started.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/test_runtime.hpp"
#include "tests/support/timeline.hpp"

using cohort::testing::test_options;
using cohort::testing::Timeline;
using nlohmann::json;

namespace {

json sim(int latency_ms) { return {{"provider", "sim"}, {"latency_ms", latency_ms}}; }

json agents_on(const std::string& model) {
  return {{"a", {{"model", model}, {"prompt", "{{item}}"}}},
          {"echo", {{"type", "tool"}, {"tool", "echo"}}},
          // partition needs a list: this one always fails.
          {"broken", {{"type", "tool"}, {"tool", "partition"}, {"input", "not a list"}}}};
}

json fan_out_of(const std::string& agent, int n, json extra = json::object()) {
  json items = json::array();
  for (int i = 0; i < n; ++i) items.push_back(i);
  json node{{"type", "fan_out"}, {"over", "item"}, {"agent", agent}, {"with", {{"item", items}}}};
  node.update(extra);
  return node;
}

// Two fan-outs of ten 40 ms agents side by side, under a run-wide limit of three:
// neither fan-out has a limit of its own, yet never more than three agents run.
TEST(ConcurrencyControl, RunWideLimitHoldsAcrossPatterns) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"m", sim(40)}}},
                     {"agents", agents_on("m")},
                     {"max_concurrency", 3},
                     {"workflow", {{"type", "fan_out"}, {"branches", {fan_out_of("a", 10), fan_out_of("a", 10)}}}}});
  Timeline tl;
  auto r = rt.run(sc, std::nullopt, tl.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 20);
  EXPECT_EQ(tl.most_in_flight(), 3);
  EXPECT_GE(r.summary.wall_ms, 7 * 40 - 20);  // 20 calls, three at a time: at least 7 rounds
}

// A declared resource: branches that need the GPU take turns (two at a time), while a
// branch that needs nothing is not held up behind them.
TEST(ConcurrencyControl, NamedResourceBoundsItsHoldersOnly) {
  cohort::Runtime rt(test_options());
  auto gpu_step = json{{"type", "pipeline"}, {"needs", "gpu"}, {"steps", {{{"agent", "a"}}, {{"agent", "a"}}}}};
  json gpu_branches = json::array();
  for (int i = 0; i < 6; ++i) {
    auto b = gpu_step;
    b["name"] = "gpu" + std::to_string(i);
    gpu_branches.push_back(b);
  }
  auto sc = rt.load({{"models", {{"m", sim(40)}, {"quick", sim(5)}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "x"}}}, {"q", {{"model", "quick"}, {"prompt", "y"}}}}},
                     {"resources", {{"gpu", 2}}},
                     {"workflow", {{"type", "fan_out"},
                                   {"branches", {{{"type", "fan_out"}, {"name", "gpus"}, {"branches", gpu_branches}},
                                                 {{"type", "pipeline"}, {"name", "cpu"}, {"steps", {{{"agent", "q"}}, {{"agent", "q"}}}}}}}}}});
  Timeline tl;
  auto r = rt.run(sc, std::nullopt, tl.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 14);
  // Each GPU pipeline runs one agent at a time, so two holders = two agents at most.
  std::lock_guard<std::mutex> lock(tl.m);
  std::vector<std::pair<int64_t, int>> holders;
  for (auto& [path, at] : tl.started)
    if (path.rfind("workflow/gpus/gpu", 0) == 0 && path.find('/', 17) == std::string::npos) {
      holders.push_back({at, +1});
      holders.push_back({tl.finished.at(path), -1});
    }
  ASSERT_EQ(holders.size(), 12u);
  std::sort(holders.begin(), holders.end());
  int held = 0, most = 0;
  for (auto& h : holders) most = std::max(most, held += h.second);
  EXPECT_EQ(most, 2);
  // The CPU branch finished long before the GPU queue drained (3 rounds of 80 ms).
  EXPECT_LT(tl.finished.at("workflow/cpu"), tl.started.at("workflow/gpus/gpu5"));
}

// Queued work is granted by priority: with one agent at a time, once the first agent
// is running, all of the high-priority fan-out goes before the rest of the low one.
TEST(ConcurrencyControl, HigherPriorityIsGrantedFirst) {
  cohort::Runtime rt(test_options());
  auto low = fan_out_of("a", 5, {{"name", "low"}, {"priority", 0}});
  auto high = fan_out_of("a", 5, {{"name", "high"}, {"priority", 10}});
  auto sc = rt.load({{"models", {{"m", sim(15)}}},
                     {"agents", agents_on("m")},
                     {"max_concurrency", 1},
                     {"workflow", {{"type", "fan_out"}, {"branches", {low, high}}}}});
  Timeline tl;
  auto r = rt.run(sc, std::nullopt, tl.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  std::vector<std::string> order;
  {
    std::lock_guard<std::mutex> lock(tl.m);
    for (auto& e : tl.events)
      if (e.leaf && e.kind == "started") order.push_back(e.path.find("/low/") != std::string::npos ? "low" : "high");
  }
  ASSERT_EQ(order.size(), 10u);
  // The first grant may go to either; after it, the five highs come before any other low.
  auto first_high = std::find(order.begin(), order.end(), "high") - order.begin();
  ASSERT_LE(first_high, 1);
  for (auto i = first_high; i < first_high + 5; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], "high") << i;
}

// An agent with pool: 2 is started twice and lent to all twenty branches; without a
// pool each branch starts its own.
TEST(ConcurrencyControl, AgentPoolLendsStartedInstances) {
  cohort::Runtime rt(test_options());
  auto baseline = rt.live_actors();
  auto pooled = agents_on("m");
  pooled["a"]["pool"] = 2;
  json doc{{"models", {{"m", sim(10)}}}, {"agents", pooled}, {"workflow", fan_out_of("a", 20, {{"max_concurrency", 10}})}};
  Timeline tl;
  auto r = rt.run(rt.load(doc), std::nullopt, tl.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 20);
  EXPECT_EQ(r.output.size(), 20u);
  EXPECT_EQ(r.summary.agents_started, 2);
  EXPECT_EQ(tl.most_in_flight(), 2);  // the pool is also a limit: two instances, two branches

  doc["agents"]["a"].erase("pool");
  auto unpooled = rt.run(rt.load(doc));
  ASSERT_TRUE(unpooled.ok());
  // Without a pool, the fan-out hands a finished agent the next branch: no more
  // agents than were ever in flight at once.
  EXPECT_EQ(unpooled.summary.agents_started, 10);

  // The instances end with the run: nothing is left alive.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rt.run(rt.load(json{{"models", {{"m", sim(1)}}}, {"agents", pooled},
                                                                {"workflow", fan_out_of("a", 10)}})).ok());
  for (int i = 0; i < 100 && rt.live_actors() > baseline; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rt.live_actors(), baseline);
}

// A pooled instance stopped mid-call (it lost a race) is not lent again: the pool
// starts fresh ones for the next step, and the run goes on.
TEST(ConcurrencyControl, AStoppedPooledInstanceIsReplaced) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"slow", sim(200)}, {"quick", sim(5)}}},
                     {"agents", {{"a", {{"model", "slow"}, {"prompt", "{{item}}"}, {"pool", 2}}},
                                 {"q", {{"model", "quick"}, {"prompt", "fast"}}}}},
                     {"workflow", {{"type", "pipeline"},
                                   {"steps", {{{"type", "race"}, {"with", {{"item", "x"}}},
                                               {"branches", {{{"agent", "a"}}, {{"agent", "q"}}}}},
                                              fan_out_of("a", 4)}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output.size(), 4u);
  // a: one in the race (stopped, dropped), then two fresh for the fan-out; q: one.
  EXPECT_EQ(r.summary.agents_started, 4);
}

TEST(ConcurrencyControl, ResourceMistakesAreErrorsWithTheirPath) {
  cohort::Runtime rt(test_options());
  auto load = [&](json workflow, json resources) {
    try {
      rt.load({{"models", {{"m", sim(1)}}}, {"agents", agents_on("m")}, {"resources", resources}, {"workflow", workflow}});
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  auto unknown = load({{"agent", "a"}, {"needs", "gpu"}}, json::object());
  EXPECT_NE(unknown.find("$.workflow.needs: unknown resource \"gpu\""), std::string::npos) << unknown;
  auto too_big = load({{"agent", "a"}, {"needs", {{"gpu", 3}}}}, {{"gpu", 2}});
  EXPECT_NE(too_big.find("$.workflow.needs: needs 3 of \"gpu\", whose capacity is 2"), std::string::npos) << too_big;
  // The pipeline holds the only licence while its step waits for it: it could never start.
  auto nested = load({{"type", "pipeline"}, {"needs", "licence"}, {"steps", {{{"agent", "echo"}, {"needs", "licence"}}}}},
                     {{"licence", 1}});
  EXPECT_NE(nested.find("$.workflow.steps[0].needs: \"licence\" is already held"), std::string::npos) << nested;
  EXPECT_EQ(load({{"type", "pipeline"}, {"needs", "licence"}, {"steps", {{{"agent", "echo"}, {"needs", "licence"}}}}},
                 {{"licence", 2}}),
            "loaded");
}

// all_settled on a DAG: a failed node's dependents are skipped, independent ones run,
// and an optional node's failure lets its dependents run with a null output.
TEST(ConcurrencyControl, DagAllSettledSkipsOnlyWhatDependsOnAFailure) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"m", sim(1)}}},
                     {"agents", agents_on("m")},
                     {"workflow", {{"type", "dag"}, {"policy", "all_settled"},
                                   {"nodes", {{{"id", "bad"}, {"agent", "broken"}},
                                              {{"id", "after_bad"}, {"agent", "echo"}, {"depends_on", {"bad"}}},
                                              {{"id", "later"}, {"agent", "echo"}, {"depends_on", {"after_bad"}}},
                                              {{"id", "fine"}, {"agent", "echo"}},
                                              {{"id", "extra"}, {"agent", "broken"}, {"required", false}},
                                              {{"id", "uses_extra"}, {"type", "agent"}, {"agent", "echo"}, {"depends_on", {"extra"}}}}}}}});
  Timeline tl;
  auto r = rt.run(sc, std::nullopt, tl.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.branches.succeeded, 2);  // fine, uses_extra
  EXPECT_EQ(r.branches.failed, 2);     // bad, extra
  EXPECT_EQ(r.branches.cancelled, 2);  // after_bad, later: never started
  EXPECT_TRUE(r.output.contains("uses_extra"));
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["policy"], "all_settled");
  EXPECT_EQ(rep["succeeded"], 2);
  std::set<std::string> kinds;
  for (auto& f : rep["failures"]) kinds.insert(f["path"].get<std::string>() + ":" + f["kind"].get<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"workflow/bad:tool_error", "workflow/after_bad:dependency_failed",
                                          "workflow/later:dependency_failed", "workflow/extra:tool_error"}));
  std::lock_guard<std::mutex> lock(tl.m);
  EXPECT_FALSE(tl.started.count("workflow/after_bad"));
  EXPECT_TRUE(tl.started.count("workflow/uses_extra"));
  EXPECT_TRUE(tl.finished.count("workflow/later"));  // its "not started" event
}

TEST(ConcurrencyControl, DagFailSoftFailsOnceMinSuccessIsOutOfReach) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"m", sim(1)}}},
                     {"agents", agents_on("m")},
                     {"workflow", {{"type", "dag"}, {"policy", "fail_soft"}, {"min_success", 3},
                                   {"nodes", {{{"id", "one"}, {"agent", "echo"}},
                                              {{"id", "bad"}, {"agent", "broken"}},
                                              {{"id", "two"}, {"agent", "echo"}, {"depends_on", {"bad"}}},
                                              {{"id", "three"}, {"agent", "echo"}, {"depends_on", {"one"}}}}}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "too_few_successes") << r.error;
  // Default fail_fast: the failure is the DAG's.
  auto fast = rt.run(rt.load({{"models", {{"m", sim(1)}}}, {"agents", agents_on("m")},
                              {"workflow", {{"type", "dag"}, {"nodes", {{{"id", "bad"}, {"agent", "broken"}},
                                                                         {{"id", "two"}, {"agent", "echo"}, {"depends_on", {"bad"}}}}}}}}));
  EXPECT_EQ(fast.status, "failed");
  EXPECT_EQ(fast.error_kind, "tool_error");
  EXPECT_EQ(fast.branches.cancelled, 1);
}

// A fail-fast fan-out that stops early: every branch it never started ends cancelled,
// each with an event of its own.
TEST(ConcurrencyControl, NeverStartedBranchesEndCancelledWithEvents) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"m", sim(1)}}},
                     {"agents", agents_on("m")},
                     {"workflow", fan_out_of("broken", 6, {{"max_concurrency", 1}})}});
  Timeline tl;
  auto r = rt.run(sc, std::nullopt, tl.handler());
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.branches.failed, 1);
  EXPECT_EQ(r.branches.cancelled, 5);
  std::lock_guard<std::mutex> lock(tl.m);
  int never_started = 0;
  for (auto& e : tl.events)
    if (e.kind == "finished" && e.status == "cancelled" && e.message.rfind("not started", 0) == 0) ++never_started;
  EXPECT_EQ(never_started, 5);
}

}  // namespace
