// Agents of a run on its own bus and barriers: messages named by outputs, {{messages}},
// sync points that agents meet at without blocking a thread, a failed party breaking
// the barrier at once, runs that never see each other's messages, and detached tool
// agents that use the handles directly.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "cohort/coordination.hpp"
#include "cohort/runtime.hpp"
#include "tests/support/scripted_server.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::test_options;
using nlohmann::json;

namespace {

// Analyzers send their item to the aggregator, then meet it at "analysis"; the
// aggregator meets them first and only then looks at its mailbox (no receive count):
// what it finds there is what the barrier guarantees.
json analysis(int analyzers, json analyzer_extra = json::object(), json fan_extra = json::object()) {
  json items = json::array();
  for (int i = 0; i < analyzers; ++i) items.push_back("segment-" + std::to_string(i));
  json analyzer{{"type", "tool"}, {"tool", "analyze"},
                {"coordination", {{"as", "analyzer-{{index}}"}, {"send", true}, {"barrier", "analysis"}}}};
  analyzer.update(analyzer_extra);
  json fan{{"type", "fan_out"}, {"over", "input.items"}, {"agent", "analyzer"}};
  fan.update(fan_extra);
  return {{"models", json::object()},
          {"barriers", {{"analysis", analyzers + 1}}},
          {"agents",
           {{"analyzer", analyzer},
            {"aggregator",
             {{"type", "tool"}, {"tool", "synthesize"},
              {"coordination", {{"barrier", {{"name", "analysis"}, {"parties", analyzers + 1}, {"at", "before"}, {"timeout_ms", 20000}}}}}}}}},
          {"workflow", {{"type", "fan_out"}, {"branches", {fan, {{"agent", "aggregator"}}}}}},
          {"input", {{"items", items}}}};
}

void register_analysis_tools(cohort::Runtime& rt, std::atomic<int>* analyzed = nullptr) {
  rt.register_tool("analyze", [analyzed](const cohort::ToolCall& c) {
    if (c.input == "segment-2" && c.run_input.value("break", false)) throw std::runtime_error("segment 2 is unreadable");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the aggregator is there long before
    if (analyzed) ++*analyzed;
    return json{{"insight", c.input}, {"send", {{"to", "aggregator"}, {"content", {{"insight", c.input}}}}}};
  });
  rt.register_tool("synthesize", [](const cohort::ToolCall& c) { return c.bindings["messages"]; });
}

TEST(RunCoordination, AgentsMeetAtTheBarrierAndTheAggregatorFindsEveryMessage) {
  cohort::Runtime rt(test_options());
  register_analysis_tools(rt);
  auto baseline = rt.live_actors();
  // Ten parties, more than the two scheduler threads and the tool slots: nobody may
  // hold a thread while it waits.
  auto r = rt.run(rt.load(analysis(10)));
  // The agents, the bus, the barrier and the blackboard all ended with the run.
  EXPECT_EQ(cohort::testing::quiet_live_actors(rt), baseline);
  ASSERT_TRUE(r.ok()) << r.error;
  const auto& got = r.output[1];
  ASSERT_EQ(got.size(), 10u) << got.dump();
  std::set<std::string> from, insights;
  for (const auto& m : got) {
    from.insert(m["from"].get<std::string>());
    insights.insert(m["content"]["insight"].get<std::string>());
  }
  EXPECT_EQ(from.size(), 10u);
  EXPECT_TRUE(from.count("analyzer-0") && from.count("analyzer-9"));
  EXPECT_TRUE(insights.count("segment-7"));
}

TEST(RunCoordination, APartyThatFailsBreaksTheBarrierAtOnce) {
  cohort::Runtime rt(test_options());
  register_analysis_tools(rt);
  // fail_soft keeps the other analyzers running: they and the aggregator wait at the
  // barrier for a party that will never come, until its failure breaks it for them.
  auto sc = rt.load(analysis(4, json::object(), {{"policy", "fail_soft"}}));
  auto started = std::chrono::steady_clock::now();
  auto r = rt.run(sc, json{{"items", {"segment-0", "segment-1", "segment-2", "segment-3"}}, {"break", true}});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "barrier_broken") << r.error;
  EXPECT_NE(r.error.find("analyzer-2"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("segment 2 is unreadable"), std::string::npos) << r.error;
  EXPECT_LT(took, std::chrono::seconds(10));  // not the barrier's 20 s timeout
}

TEST(RunCoordination, AReceiveThatCannotBeMetTimesOutNamingTheParty) {
  cohort::Runtime rt(test_options());
  register_analysis_tools(rt);
  auto doc = analysis(2);
  doc["agents"]["aggregator"]["coordination"] = {{"receive", {{"count", 3}, {"timeout_ms", 300}}}};
  doc["barriers"] = json::object();
  doc["agents"]["analyzer"]["coordination"].erase("barrier");
  auto r = rt.run(rt.load(doc));
  EXPECT_EQ(r.status, "timed_out") << r.error_kind << ": " << r.error;
  EXPECT_NE(r.error.find("aggregator (receive)"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("got 2 of 3 messages"), std::string::npos) << r.error;
}

// An agent stopped while it waits for its messages leaves them to whoever reads that
// mailbox next: the waiter loses a race mid-receive, then waits again in the next step,
// where the sender's message must reach it (the stopped wait used to stay first in
// line and take it, and the second wait timed out).
TEST(RunCoordination, AStoppedReceiveLeavesItsMessagesToTheNextReader) {
  cohort::Runtime rt(test_options());
  rt.register_tool("show_messages", [](const cohort::ToolCall& c) { return c.bindings["messages"]; });
  rt.register_tool("quick", [](const cohort::ToolCall&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the waiter waits by then
    return json("won");
  });
  rt.register_tool("note", [](const cohort::ToolCall&) { return json{{"send", {{"to", "waiter"}, {"content", "hi"}}}}; });
  json doc{{"models", json::object()},
           {"agents",
            {{"waiter",
              {{"type", "tool"}, {"tool", "show_messages"},
               {"coordination", {{"receive", {{"count", 1}, {"timeout_ms", 3000}}}}}}},
             {"quick", {{"type", "tool"}, {"tool", "quick"}}},
             {"sender", {{"type", "tool"}, {"tool", "note"}, {"coordination", {{"send", true}}}}}}},
           {"workflow",
            {{"type", "pipeline"},
             {"steps",
              {{{"type", "race"}, {"branches", {{{"agent", "waiter"}}, {{"agent", "quick"}}}}},
               {{"type", "fan_out"}, {"branches", {{{"agent", "waiter"}}, {{"agent", "sender"}}}}}}}}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_EQ(r.status, "succeeded") << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output[0], json::array({{{"from", "sender"}, {"content", "hi"}}})) << r.output;
}

// A task that took its messages and then failed gives them back: its retry sees the same
// messages (they were gone, and the retry's receive timed out). The model server fails
// the first call with a 500 (a retried kind) and answers the second.
TEST(RunCoordination, ARetrySeesTheMessagesItsFailedAttemptTook) {
  cohort::Runtime rt(test_options());
  cohort::testing::scripted_server server(
      {cohort::testing::http_json_answer(500, "Internal Server Error", R"({"error":{"message":"try again"}})"),
       cohort::testing::http_json_answer(200, "OK", cohort::testing::chat_answer_json("done"))});
  rt.register_tool("note", [](const cohort::ToolCall&) {
    return json{{"send", {{"to", "reader"}, {"content", "the-secret-word"}}}};
  });
  json doc{{"models", {{"m", {{"provider", "openai"}, {"base_url", server.base_url()}}}}},
           {"agents",
            {{"reader",
              {{"model", "m"}, {"prompt", "Read: {{messages}}"},
               {"coordination", {{"receive", {{"count", 1}, {"timeout_ms", 2000}}}}}}},
             {"sender", {{"type", "tool"}, {"tool", "note"}, {"coordination", {{"send", true}}}}}}},
           {"workflow",
            {{"type", "pipeline"},
             {"steps", {{{"agent", "sender"}}, {{"agent", "reader"}, {"retry", {{"max_attempts", 2}, {"backoff_ms", 1}}}}}}}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_EQ(r.status, "succeeded") << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, "done");
  std::vector<std::string> asked;
  for (const auto& c : server.connections())
    for (const auto& request : c.requests) asked.push_back(request);
  ASSERT_EQ(asked.size(), 2u);
  for (const auto& request : asked) EXPECT_NE(request.find("the-secret-word"), std::string::npos) << request;
}

// Two runs of one scenario at once, with the same agent names: each aggregator gets
// its own run's messages and no other.
TEST(RunCoordination, RunsNeverSeeEachOthersMessages) {
  cohort::Runtime rt(test_options());
  register_analysis_tools(rt);
  auto sc = rt.load(analysis(3));
  auto a = rt.start(sc, json{{"items", {"a0", "a1", "a2"}}});
  auto b = rt.start(sc, json{{"items", {"b0", "b1", "b2"}}});
  auto ra = a.wait(), rb = b.wait();
  ASSERT_TRUE(ra.ok()) << ra.error;
  ASSERT_TRUE(rb.ok()) << rb.error;
  for (auto& [r, prefix] : {std::pair<const cohort::RunResult&, char>{ra, 'a'}, {rb, 'b'}}) {
    ASSERT_EQ(r.output[1].size(), 3u);
    for (const auto& m : r.output[1]) EXPECT_EQ(m["content"]["insight"].get<std::string>()[0], prefix) << m.dump();
  }
}

// Detached tool agents use the run's handles: six counters increment the blackboard
// and wait on it until all six have, more waiters than scheduler threads.
TEST(RunCoordination, DetachedToolsUseTheRunsBlackboardAndBus) {
  cohort::Runtime rt(test_options());
  rt.register_tool("count_and_wait", [](const cohort::ToolCall& c) {
    if (!c.coordination) throw std::runtime_error("no coordination handed over");
    auto& run = *c.coordination;
    run.board.increment("arrived");
    auto e = run.board.wait_until({"arrived", "gte", 6}, std::chrono::seconds(10));
    run.bus.send(run.self, "tally", c.input);
    return json(e.value);
  });
  rt.register_tool("tally", [](const cohort::ToolCall& c) {
    auto got = c.coordination->bus.receive_n("tally", 6, std::chrono::seconds(10));
    int sum = 0;
    for (auto& m : got) sum += m.payload.get<int>();
    return json(sum);
  });
  rt.register_tool("plain", [](const cohort::ToolCall& c) { return json(c.coordination == nullptr); });
  auto r = rt.run(rt.load({{"models", json::object()},
                           {"agents",
                            {{"counter", {{"type", "tool"}, {"tool", "count_and_wait"}, {"detached", true}}},
                             {"tally", {{"type", "tool"}, {"tool", "tally"}, {"detached", true}}},
                             {"plain", {{"type", "tool"}, {"tool", "plain"}}}}},
                           {"workflow",
                            {{"type", "fan_out"},
                             {"branches",
                              {{{"type", "fan_out"}, {"over", "input.n"}, {"agent", "counter"}},
                               {{"agent", "tally"}},
                               {{"agent", "plain"}}}}}},
                           {"input", {{"n", {1, 2, 3, 4, 5, 6}}}}}));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output[0], (json{6, 6, 6, 6, 6, 6}));
  EXPECT_EQ(r.output[1], 21);
  EXPECT_EQ(r.output[2], true);  // a tool on the shared threads is not handed what could block them
}

TEST(RunCoordination, LlmAgentsSeeTheirMessagesInThePrompt) {
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load_file(std::string(COHORT_SOURCE_DIR) + "/examples/analyzers-barrier.json"));
  ASSERT_TRUE(r.ok()) << r.error;
  auto synthesis = r.output[1].get<std::string>();
  for (const char* s : {"solar panels", "heat pumps", "electric bikes", "home batteries", "\"from\":\"analyzer-3\""})
    EXPECT_NE(synthesis.find(s), std::string::npos) << s << " in " << synthesis;
}

TEST(RunCoordination, BadCoordinationIsNamedAtLoad) {
  cohort::Runtime rt(test_options());
  register_analysis_tools(rt);
  auto doc = analysis(2);
  doc["agents"]["analyzer"]["coordination"]["barrier"] = "nowhere";
  doc["agents"]["aggregator"]["coordination"]["barrier"]["parties"] = 7;
  try {
    rt.load(doc);
    FAIL() << "loaded";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("$.agents.analyzer.coordination.barrier: unknown sync point \"nowhere\""), std::string::npos) << what;
    EXPECT_NE(what.find("$.agents.aggregator.coordination.barrier.parties: sync point \"analysis\" already has 3 parties, not 7"),
              std::string::npos)
        << what;
  }
}

}  // namespace
