// Embedded runs on the simulated model and C++ tools: fan-out, fan-in, pipelines,
// failures, timeouts, cancellation, and no actor left behind.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/scripted_server.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::test_options;
using nlohmann::json;

namespace {

json sim_model(int min_ms, int max_ms) {
  return {{"provider", "sim"}, {"latency_ms", {{"min", min_ms}, {"max", max_ms}}}, {"seed", 5},
          {"rules", json::array({{{"match", "item (\\d+)"}, {"reply", "r{{1}}"}}})}};
}

}  // namespace

TEST(Runtime, FanOutOfThousandSimAgentsKeepsInputOrder) {
  cohort::Runtime rt(test_options());
  json items = json::array();
  for (int i = 0; i < 1000; ++i) items.push_back(i);
  auto sc = rt.load({{"models", {{"sim", sim_model(0, 20)}}},
                     {"agents", {{"a", {{"model", "sim"}, {"prompt", "item {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "a"}}},
                     {"input", {{"items", items}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.output.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(r.output[i], "r" + std::to_string(i)) << i;
  EXPECT_EQ(r.summary.model_calls, 1000);
  EXPECT_EQ(r.branches.succeeded, 1000);
  EXPECT_GT(r.summary.tokens, 0);
  // 1000 calls of up to 20 ms in parallel: far faster than one after another.
  EXPECT_GT(r.summary.speedup, 5.0);
}

TEST(Runtime, PipelineFeedsResultsAndAggregates) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load(json::parse(R"J({
    "models": {"sim": {"provider": "sim", "rules": [
      {"match": "^topic (.*)", "reply": "{\"{{1}}\": true}"},
      {"match": "^merge (.*)", "reply": "merged {{1}}"}]}},
    "agents": {
      "fact": {"model": "sim", "prompt": "topic {{item}}", "output": "json"},
      "summary": {"model": "sim", "prompt": "merge {{results}}"}
    },
    "workflow": {"type": "pipeline", "steps": [
      {"type": "fan_out", "over": "input.topics", "agent": "fact", "aggregate": {"type": "merge", "mode": "deep"}},
      {"agent": "summary"}
    ]},
    "input": {"topics": ["a", "b"]}
  })J"));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, R"(merged {"a":true,"b":true})");
}

TEST(Runtime, AggregationsJoinConcatAndReduce) {
  cohort::Runtime rt(test_options());
  rt.register_tool("pair", [](const cohort::ToolCall& c) { return json::array({c.input, c.input}); });
  rt.register_tool("add", [](const cohort::ToolCall& c) {
    return c.bindings["acc"].get<int>() + c.bindings["item"].get<int>();
  });
  auto make = [&](json aggregate, std::string agent) {
    return rt.load({{"models", json::object()},
                    {"agents", {{"pair", {{"type", "tool"}, {"tool", "pair"}}},
                                {"echo", {{"type", "tool"}, {"tool", "echo"}}},
                                {"add", {{"type", "tool"}, {"tool", "add"}}}}},
                    {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", agent}, {"aggregate", aggregate}}},
                    {"input", {{"xs", {1, 2, 3}}}}});
  };
  EXPECT_EQ(rt.run(make({{"type", "join"}, {"separator", "+"}}, "echo")).output, "1+2+3");
  EXPECT_EQ(rt.run(make({{"type", "merge"}, {"mode", "concat"}}, "pair")).output, json({1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(rt.run(make({{"type", "reduce"}, {"agent", "add"}, {"initial", 10}}, "echo")).output, 16);
  EXPECT_EQ(rt.run(make({{"type", "reduce"}, {"agent", "add"}}, "echo")).output, 6);
  auto bad = rt.run(make({{"type", "merge"}, {"mode", "shallow"}}, "echo"));
  EXPECT_EQ(bad.status, "failed");
  EXPECT_EQ(bad.error_kind, "invalid_output");
}

TEST(Runtime, FanOutOverAgentsAndEmptyLists) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load(json::parse(R"J({
    "models": {"sim": {"provider": "sim", "rules": [{"match": "(\\w+) view", "reply": "{{1}}!"}]}},
    "agents": {"optimist": {"model": "sim", "prompt": "optimist view"},
               "pessimist": {"model": "sim", "prompt": "pessimist view"}},
    "workflow": {"type": "fan_out", "agents": ["optimist", "pessimist"]}
  })J"));
  EXPECT_EQ(rt.run(sc).output, json({"optimist!", "pessimist!"}));
  auto empty = rt.load({{"models", json::object()},
                        {"agents", {{"e", {{"type", "tool"}, {"tool", "echo"}}}}},
                        {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "e"}}},
                        {"input", {{"xs", json::array()}}}});
  auto r = rt.run(empty);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.output, json::array());
}

TEST(Runtime, FailureNamesTheBranchAndCancelsSiblings) {
  cohort::Runtime rt(test_options());
  rt.register_tool("picky", [](const cohort::ToolCall& c) -> json {
    if (c.input == 3) throw std::runtime_error("three is not allowed");
    return c.input;
  });
  auto sc = rt.load({{"models", json::object()},
                     {"agents", {{"picky", {{"type", "tool"}, {"tool", "picky"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "picky"}, {"max_concurrency", 1}}},
                     {"input", {{"xs", {1, 2, 3, 4, 5}}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "tool_error");
  EXPECT_NE(r.error.find("picky[2]"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("three is not allowed"), std::string::npos) << r.error;
  EXPECT_EQ(r.branches.succeeded, 2);
  EXPECT_EQ(r.branches.failed, 1);
  EXPECT_EQ(r.branches.cancelled, 2);  // never started: ended cancelled, not lost
}

TEST(Runtime, MaxConcurrencyBoundsParallelism) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"sim", sim_model(60, 60)}}},
                     {"agents", {{"a", {{"model", "sim"}, {"prompt", "item {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}, {"max_concurrency", 2}}},
                     {"input", {{"xs", {1, 2, 3, 4, 5, 6}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok());
  // Six 60 ms calls, two at a time: at least three rounds.
  EXPECT_GE(r.summary.wall_ms, 175);
  EXPECT_LE(r.summary.speedup, 2.2);
}

TEST(Runtime, AgentTimeoutEndsTheBranchTimedOut) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"slow", sim_model(2000, 2000)}}},
                     {"agents", {{"a", {{"model", "slow"}, {"prompt", "x"}, {"timeout_ms", 50}}}}},
                     {"workflow", {{"agent", "a"}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "timed_out");
  EXPECT_EQ(r.error_kind, "timeout");
  EXPECT_LT(r.summary.wall_ms, 1500);
}

TEST(Runtime, RunTimeoutKeepsFinishedResults) {
  cohort::Runtime rt(test_options());
  auto sc2 = rt.load({{"timeout_ms", 300},
                      {"models", {{"fast", sim_model(0, 0)}, {"slow", sim_model(5000, 5000)}}},
                      {"agents", {{"f", {{"model", "fast"}, {"prompt", "item 1"}}},
                                  {"s", {{"model", "slow"}, {"prompt", "item 2"}}}}},
                      {"workflow", {{"type", "fan_out"}, {"agents", {"f", "s"}}}}});
  auto r = rt.run(sc2);
  EXPECT_EQ(r.status, "timed_out");
  EXPECT_LT(r.summary.wall_ms, 2000);
  ASSERT_TRUE(r.output.is_array());
  EXPECT_EQ(r.output[0], "r1");
  EXPECT_TRUE(r.output[1].is_null());
}

TEST(Runtime, CancelStopsEveryBranchAndKeepsFinishedOnes) {
  cohort::Runtime rt(test_options());
  auto baseline = rt.live_actors();
  auto sc = rt.load({{"models", {{"fast", sim_model(0, 0)}, {"slow", sim_model(10000, 10000)}}},
                     {"agents", {{"f", {{"model", "fast"}, {"prompt", "item 7"}}},
                                 {"s", {{"model", "slow"}, {"prompt", "item 8"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"agents", {"f", "s", "s"}}}}});
  std::atomic<int> finished{0};
  auto run = rt.start(sc, std::nullopt, [&](const cohort::Event& e) {
    if (e.leaf && e.kind == "finished" && e.status == "succeeded") ++finished;
  });
  for (int i = 0; i < 200 && finished == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  run.cancel("test says stop");
  auto r = run.wait_for(std::chrono::seconds(2));
  ASSERT_TRUE(r.has_value()) << "cancel did not end the run";
  EXPECT_EQ(r->status, "cancelled");
  EXPECT_EQ(r->output[0], "r7");
  EXPECT_EQ(r->branches.succeeded, 1);
  EXPECT_EQ(r->branches.cancelled, 2);
  for (int i = 0; i < 200 && rt.live_actors() != baseline; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(rt.live_actors(), baseline);
}

// A cancel that comes before the agent took its task (it overtakes the task: cancels go
// first) still stops it; the agent was ignoring it and ran the task to its end.
TEST(Runtime, ACancelRightAfterTheStartStopsTheRun) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"models", {{"slow", sim_model(5000, 5000)}}},
                     {"agents", {{"s", {{"model", "slow"}, {"prompt", "item 8"}}}}},
                     {"workflow", {{"agent", "s"}}}});
  // The same with a pattern at the root.
  auto wide = rt.load({{"models", {{"slow", sim_model(5000, 5000)}}},
                       {"agents", {{"s", {{"model", "slow"}, {"prompt", "item 8"}}}}},
                       {"workflow", {{"type", "fan_out"}, {"agents", {"s", "s"}}}}});
  std::vector<cohort::Run> runs;
  for (int i = 0; i < 20; ++i) {
    runs.push_back(rt.start(i % 2 == 0 ? sc : wide));
    runs.back().cancel("test says stop at once");
  }
  for (auto& run : runs) {
    auto r = run.wait_for(std::chrono::seconds(3));
    ASSERT_TRUE(r.has_value()) << "a cancel right after the start did not end the run";
    EXPECT_EQ(r->status, "cancelled") << r->error_kind << ": " << r->error;
  }
}

// The same for the other leaf agents at the root: an external agent (it waited for its
// result up to its timeout), a remote A2A agent (it made its call anyway, here to a server
// that never answers), a tool (it had quit: the run failed as crashed).
// A tool waiting at a barrier that was cancelled quit without an answer (crashed too).
TEST(Runtime, ACancelRightAfterTheStartStopsEveryKindOfLeafAgent) {
  cohort::Runtime rt(test_options());
  auto root = [&](const json& agent) {
    return rt.load({{"agents", {{"x", agent}}}, {"workflow", {{"agent", "x"}}}});
  };
  auto external = root({{"type", "external"}, {"timeout_ms", 5000}});
  cohort::testing::scripted_server silent({""});
  auto a2a = root({{"type", "a2a"}, {"url", "http://127.0.0.1:" + std::to_string(silent.port()) + "/"},
                   {"prompt", "hi"}, {"timeout_ms", 5000}});
  auto tool = root({{"type", "tool"}, {"tool", "echo"}, {"input", "hi"}});
  auto meeting_tool = rt.load({{"barriers", {{"meet", 2}}},  // nobody else comes
                               {"agents", {{"x", {{"type", "tool"}, {"tool", "echo"}, {"input", "hi"},
                                                  {"coordination", {{"barrier", "meet"}}}}}}},
                               {"workflow", {{"agent", "x"}}}});
  for (int i = 0; i < 10; ++i) {
    std::vector<cohort::Run> runs;
    for (auto* sc : {&external, &a2a, &meeting_tool, &tool}) {
      runs.push_back(rt.start(*sc));
      runs.back().cancel("test says stop at once");
    }
    for (size_t k = 0; k < runs.size(); ++k) {
      auto r = runs[k].wait_for(std::chrono::seconds(3));
      ASSERT_TRUE(r.has_value()) << "root " << k << ": a cancel right after the start did not end the run";
      if (k < 3)
        EXPECT_EQ(r->status, "cancelled") << "root " << k << ": " << r->error_kind << ": " << r->error;
      else  // the tool may have answered before the cancel came; it never fails for it
        EXPECT_TRUE(r->status == "cancelled" || r->status == "succeeded")
            << "root " << k << ": " << r->status << " " << r->error_kind << ": " << r->error;
    }
  }
}

// A tool agent cancelled while it waits at its barrier answers cancelled (it quit without
// an answer: the run failed as crashed) and leaves the barrier.
TEST(Runtime, AToolCancelledAtItsBarrierEndsCancelled) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load({{"barriers", {{"meet", 2}}},  // nobody else comes
                     {"agents", {{"x", {{"type", "tool"}, {"tool", "echo"}, {"input", "hi"},
                                        {"coordination", {{"barrier", "meet"}}}}}}},
                     {"workflow", {{"agent", "x"}}}});
  std::atomic<bool> started{false};
  auto run = rt.start(sc, std::nullopt, [&](const cohort::Event& e) {
    if (e.leaf && e.kind == "started") started = true;
  });
  for (int i = 0; i < 400 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(started.load());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // at the barrier by now
  run.cancel("test says stop");
  auto r = run.wait_for(std::chrono::seconds(3));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "cancelled") << r->error_kind << ": " << r->error;
  EXPECT_EQ(r->branches.cancelled, 1);
}

TEST(Runtime, LiveActorsReturnToBaselineAfterRuns) {
  cohort::Runtime rt(test_options());
  auto baseline = rt.live_actors();
  auto sc = rt.load({{"models", {{"sim", sim_model(0, 5)}}},
                     {"agents", {{"a", {{"model", "sim"}, {"prompt", "item {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
                     {"input", {{"xs", {1, 2, 3, 4, 5, 6, 7, 8}}}}});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rt.run(sc).ok());
  for (int i = 0; i < 200 && rt.live_actors() != baseline; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(rt.live_actors(), baseline);
}
