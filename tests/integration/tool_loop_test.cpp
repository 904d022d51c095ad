// The tool-call loop of an llm agent, on the sim model's scripted tool calls: turns
// with parallel calls (their overlap shown from events), a call timing out and tried
// again, a tool that throws, arguments the schema refuses, max_turns, cancellation in
// the middle of a turn, and the scenario checks on "tools".
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"
#include "tests/support/timeline.hpp"

using cohort::testing::has_text;
using cohort::testing::load_problems;
using cohort::testing::mock_llm_process;
using cohort::testing::test_options;
using cohort::testing::Timeline;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A researcher that the sim model answers in `turns` of calls, then with the tool results.
json researcher_scenario(const json& turns, const json& tools, int max_turns = 10) {
  return {{"name", "tools"},
          {"models", {{"brain", {{"provider", "sim"},
                                 {"rules", json::array({{{"match", "research (\\w+)"},
                                                         {"tool_turns", turns},
                                                         {"reply", "report: {{tool_results}}"}}})}}},
                      {"slow", {{"provider", "sim"}, {"latency_ms", 300},
                                {"rules", json::array({{{"match", "find (.+)"}, {"reply", "found {{1}}"}}})}}}}},
          {"agents", {{"researcher", {{"model", "brain"}, {"prompt", "research {{input.topic}}"},
                                      {"tools", tools}, {"max_turns", max_turns}}},
                      {"search", {{"model", "slow"}, {"prompt", "find {{arguments.q}}"},
                                  {"description", "Searches the web"},
                                  {"parameters", {{"type", "object"},
                                                  {"required", {"q"}},
                                                  {"properties", {{"q", {{"type", "string"}}}}}}}}},
                      {"calc", {{"type", "tool"}, {"tool", "calc"}}}}},
          {"workflow", {{"agent", "researcher"}}},
          {"input", {{"topic", "tides"}}}};
}

json call(const std::string& name, const json& args) { return {{"name", name}, {"arguments", args}}; }

// A C++ tool that counts its calls and adds two numbers.
cohort::Tool adder(std::atomic<int>& calls) {
  return [&calls](const cohort::ToolCall& c) -> json {
    ++calls;
    return c.input.at("a").get<int>() + c.input.at("b").get<int>();
  };
}

}  // namespace

TEST(ToolLoop, TurnsOfParallelCallsEndInTheModelsAnswer) {
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  rt.register_tool("calc", adder(adds));
  auto turns = json::array({json::array({call("search", {{"q", "{{1}} moon"}}), call("search", {{"q", "{{1}} sun"}})}),
                            json::array({call("calc", {{"a", 2}, {"b", 3}})})});
  Timeline timeline;
  auto r = rt.run(rt.load(researcher_scenario(turns, {"search", "calc"})), std::nullopt, timeline.handler());
  ASSERT_TRUE(r.ok()) << r.error;
  // The last turn's results reach the model, which answers with them.
  EXPECT_EQ(r.output, "report: 5");
  EXPECT_EQ(adds.load(), 1);
  // 3 turns of the researcher and 2 searches, each a model call.
  EXPECT_EQ(r.summary.model_calls, 5);
  const auto& report = r.reports.at("researcher");
  EXPECT_EQ(report["turns"], 3);
  ASSERT_EQ(report["calls"].size(), 3u) << report.dump();
  EXPECT_EQ(report["transcript"][0]["tool_calls"][0]["function"]["arguments"], R"({"q":"tides moon"})");
  EXPECT_EQ(report["calls"][1]["status"], "succeeded");
  // The transcript: each answer with calls, then one tool message a call, in order.
  const auto& transcript = report["transcript"];
  ASSERT_EQ(transcript.size(), 5u) << transcript.dump();
  EXPECT_EQ(transcript[1]["content"], "found tides moon");
  EXPECT_EQ(transcript[2]["content"], "found tides sun");
  EXPECT_EQ(transcript[1]["tool_call_id"], transcript[0]["tool_calls"][0]["id"]);
  // The two searches of the first turn ran at the same time: each started before the
  // other finished (each takes 300 ms).
  std::lock_guard<std::mutex> lock(timeline.m);
  auto first = timeline.started.at("researcher/search#1"), second = timeline.started.at("researcher/search#2");
  EXPECT_LT(second, timeline.finished.at("researcher/search#1"));
  EXPECT_LT(first, timeline.finished.at("researcher/search#2"));
  // Every turn and call ended in one final state, each with its events.
  EXPECT_EQ(r.branches.succeeded, 3 + 3);
  EXPECT_EQ(timeline.finished.count("researcher/turn3"), 1u);
}

TEST(ToolLoop, ACallThatTimesOutIsTriedAgain) {
  cohort::Runtime rt(test_options());
  std::atomic<int> calls{0};
  rt.register_tool("calc", [&calls](const cohort::ToolCall& c) -> json {
    if (++calls == 1) std::this_thread::sleep_for(600ms);  // the first try is too slow
    return c.input.at("a").get<int>() * 10;
  });
  auto turns = json::array({json::array({call("calc", {{"a", 4}})})});
  auto tools = json::array({{{"agent", "calc"}, {"timeout_ms", 150}, {"retry", {{"max_attempts", 2}, {"backoff_ms", 1}}}}});
  auto r = rt.run(rt.load(researcher_scenario(turns, tools)));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "report: 40");
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(r.summary.retries, 1);
}

TEST(ToolLoop, AToolThatThrowsIsToldToTheModelOrFailsTheAgent) {
  auto turns = json::array({json::array({call("calc", {{"a", 1}}), call("search", {{"q", "tides"}})})});
  for (std::string mode : {"tell_model", "fail"}) {
    SCOPED_TRACE(mode);
    cohort::Runtime rt(test_options());
    rt.register_tool("calc", [](const cohort::ToolCall&) -> json { throw std::runtime_error("division by zero"); });
    auto doc = researcher_scenario(turns, {"calc", "search"});
    doc["agents"]["researcher"]["on_tool_error"] = mode;
    auto r = rt.run(rt.load(doc));
    if (mode == "tell_model") {
      // The failure is the call's result; the other call and the run go on.
      ASSERT_TRUE(r.ok()) << r.error;
      auto text = r.output.get<std::string>();
      EXPECT_TRUE(has_text(text, "error (tool_error)")) << text;
      EXPECT_TRUE(has_text(text, "division by zero")) << text;
      EXPECT_TRUE(has_text(text, "found tides")) << text;
      EXPECT_EQ(r.branches.failed, 1);
    } else {
      EXPECT_EQ(r.status, "failed");
      EXPECT_EQ(r.error_kind, "tool_error") << r.error;
      EXPECT_TRUE(has_text(r.error, "division by zero")) << r.error;
    }
  }
}

TEST(ToolLoop, AToolThatCrashesItsActorIsOneFailedCall) {
  cohort::Runtime rt(test_options());
  // Not a std::exception: it escapes the tool and ends its actor.
  rt.register_tool("calc", [](const cohort::ToolCall&) -> json { throw 42; });
  auto turns = json::array({json::array({call("calc", {{"a", 1}}), call("search", {{"q", "tides"}})})});
  auto r = rt.run(rt.load(researcher_scenario(turns, {"calc", "search"})));
  ASSERT_TRUE(r.ok()) << r.error;
  auto text = r.output.get<std::string>();
  EXPECT_TRUE(has_text(text, "error (crashed)")) << text;
  EXPECT_TRUE(has_text(text, "found tides")) << text;  // the other call and the agent went on
  EXPECT_EQ(r.branches.failed, 1);
}

TEST(ToolLoop, CallsTheModelGotWrongGoBackToItAndNeverRun) {
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  rt.register_tool("calc", adder(adds));
  // search needs a string "q"; there is no tool "weather"; calc's arguments are not an object.
  auto turns = json::array({json::array({call("search", {{"query", 5}}), call("weather", json::object()),
                                         call("calc", json::array({1, 2}))})});
  auto r = rt.run(rt.load(researcher_scenario(turns, {"search", "calc"})));
  ASSERT_TRUE(r.ok()) << r.error;
  auto text = r.output.get<std::string>();
  EXPECT_TRUE(has_text(text, "error (invalid_arguments): arguments")) << text;
  EXPECT_TRUE(has_text(text, "error (unknown_tool): there is no tool \"weather\" (tools: search, calc)")) << text;
  EXPECT_TRUE(has_text(text, "must be a JSON object")) << text;
  EXPECT_EQ(adds.load(), 0);
  EXPECT_EQ(r.summary.model_calls, 2);  // two turns, no search ran
  const auto& calls = r.reports.at("researcher")["calls"];
  for (const auto& c : calls) EXPECT_EQ(c["status"], "refused") << c.dump();
}

TEST(ToolLoop, AFloodOfCallsInOneAnswerIsCut) {
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  rt.register_tool("calc", adder(adds));
  auto flood = json::array();
  for (int i = 0; i < 300; ++i) flood.push_back(call("calc", {{"a", i}, {"b", 0}}));
  auto r = rt.run(rt.load(researcher_scenario(json::array({flood}), {"calc"})));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(adds.load(), 128);  // the first 128 ran, the rest never became branches
  const auto& report = r.reports.at("researcher");
  EXPECT_EQ(report["dropped_calls"], 300 - 128);
  EXPECT_EQ(report["transcript"][0]["tool_calls"].size(), 128u);
}

// A result of megabytes (an MCP server's file, say) went back to the model whole, and
// again with every later turn: each is cut at 1 MiB now, at a character's start.
TEST(ToolLoop, AHugeResultIsCutBeforeItGoesBackToTheModel) {
  cohort::Runtime rt(test_options());
  rt.register_tool("calc", [](const cohort::ToolCall&) -> json {
    std::string text = "a";  // then two-byte characters: byte 1048576 is inside one
    for (int i = 0; i < (3 << 19); ++i) text += "\u00e9";
    return text;
  });
  auto turns = json::array({json::array({call("calc", json::object())})});
  auto r = rt.run(rt.load(researcher_scenario(turns, {"calc"})));
  ASSERT_TRUE(r.ok()) << r.error;
  auto text = r.output.get<std::string>();
  EXPECT_LT(text.size(), (size_t{1} << 20) + 200);
  EXPECT_TRUE(has_text(text, "[cut: the result has 3145729 bytes; the first 1048575 are shown]"))
      << text.substr(text.size() - 200);
  EXPECT_NO_THROW(json(text).dump()) << "the cut split a character";
}

TEST(ToolLoop, ALongArgumentAgainstASchemaPatternDoesNotCrash) {
  // valijson checks "pattern" with std::regex, which recursed per character and crashed
  // on a string this long: patterns are not checked, the rest of the schema is.
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  rt.register_tool("calc", adder(adds));
  std::string long_text(200000, 'a');
  auto turns = json::array({json::array({call("search", {{"q", long_text}}), call("search", {{"q", 7}})})});
  auto doc = researcher_scenario(turns, {"search"});
  doc["agents"]["search"]["parameters"]["properties"]["q"]["pattern"] = "^(a|b)*c$";
  doc["agents"]["search"]["parameters"]["properties"]["q"]["format"] = "date-time";
  doc["agents"]["search"]["parameters"]["patternProperties"] = {{"^x", {{"type", "string"}}}};
  doc["agents"]["search"]["parameters"]["additionalProperties"] = false;
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  const auto& calls = r.reports.at("researcher")["calls"];
  EXPECT_EQ(calls[0]["status"], "succeeded");
  EXPECT_EQ(calls[1]["status"], "refused");  // "type": "string" still holds
}

TEST(ToolLoop, MaxTurnsEndsTheLoopWithTheTranscript) {
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  rt.register_tool("calc", adder(adds));
  auto once = json::array({call("calc", {{"a", 1}, {"b", 1}})});
  auto r = rt.run(rt.load(researcher_scenario(json::array({once, once, once}), {"calc"}, 2)));
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "max_turns_exceeded") << r.error;
  EXPECT_EQ(adds.load(), 1);  // the second answer's call never ran
  const auto& transcript = r.reports.at("researcher")["transcript"];
  ASSERT_EQ(transcript.size(), 3u) << transcript.dump();
  EXPECT_EQ(transcript[1]["content"], "2");
  EXPECT_TRUE(transcript[2].contains("tool_calls"));
}

TEST(ToolLoop, CancelInTheMiddleOfATurnStopsItsCalls) {
  cohort::Runtime rt(test_options());
  rt.register_tool("calc", [](const cohort::ToolCall&) { return json(0); });
  auto doc = researcher_scenario(json::array({json::array({call("search", {{"q", "a"}}), call("search", {{"q", "b"}})})}),
                                 {"search"});
  doc["models"]["slow"]["latency_ms"] = 20000;
  std::atomic<int> calls_started{0};
  auto run = rt.start(rt.load(doc), std::nullopt, [&](const cohort::Event& e) {
    if (e.kind == "started" && has_text(e.path, "search#")) ++calls_started;
  });
  for (int i = 0; i < 500 && calls_started < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(calls_started.load(), 2);
  auto asked = std::chrono::steady_clock::now();
  run.cancel("enough");
  auto r = run.wait_for(5s);
  ASSERT_TRUE(r.has_value()) << "the cancelled run did not end";
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
  EXPECT_EQ(r->status, "cancelled");
  EXPECT_EQ(r->branches.cancelled, 2) << r->to_json().dump();  // both calls
  EXPECT_EQ(r->branches.succeeded, 1);                          // the first turn
}

TEST(ToolLoop, AWholeWorkflowAnswersACall) {
  cohort::Runtime rt(test_options());
  rt.register_tool("calc", [](const cohort::ToolCall&) { return json(0); });
  auto turns = json::array({json::array({call("team", {{"topics", {"moon", "sun"}}})})});
  json team = {{"name", "team"},
               {"description", "Researches every topic at once"},
               {"parameters", {{"type", "object"}, {"required", {"topics"}},
                               {"properties", {{"topics", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}},
               {"workflow", {{"type", "fan_out"}, {"over", "arguments.topics"}, {"agent", "lookup"}}}};
  auto doc = researcher_scenario(turns, json::array({team}));
  doc["agents"]["lookup"] = {{"model", "slow"}, {"prompt", "find {{item}}"}};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, R"(report: ["found moon","found sun"])");
  EXPECT_EQ(r.reports.at("researcher")["calls"][0]["tool"], "team");
  EXPECT_EQ(r.summary.model_calls, 4);  // two turns, two lookups
}

TEST(ToolLoop, TheScenarioSaysWhatIsWrongWithItsTools) {
  cohort::Runtime rt(test_options());
  rt.register_tool("calc", [](const cohort::ToolCall&) { return json(1); });
  auto doc = researcher_scenario(json::array({json::array({call("calc", json::object())})}), {"nobody", "calc", "calc"});
  auto problems = load_problems(rt, doc);
  EXPECT_TRUE(has_text(problems, "$.agents.researcher.tools[0]: unknown agent \"nobody\"")) << problems;
  EXPECT_TRUE(has_text(problems, "$.agents.researcher.tools[2]: a second tool named \"calc\"")) << problems;

  // Agents that call each other in a circle.
  doc = researcher_scenario(json::array({json::array({call("calc", json::object())})}), {"search"});
  doc["agents"]["search"]["tools"] = {"researcher"};
  problems = load_problems(rt, doc);
  EXPECT_TRUE(has_text(problems, "call each other in a circle (researcher -> search -> researcher)")) << problems;

  // A name a model cannot call, a schema that is not one, raw tools in params.
  doc = researcher_scenario(json::array({json::array({call("calc", json::object())})}), {"search"});
  doc["agents"]["researcher"]["tools"] = {{{"agent", "search"}, {"name", "web search"}}};
  doc["agents"]["search"]["parameters"] = {{"type", 12}};
  doc["agents"]["researcher"]["params"] = {{"tools", json::array()}};
  problems = load_problems(rt, doc);
  EXPECT_TRUE(has_text(problems, "$.agents.researcher.tools[0]: \"web search\" is not a name a model can call")) << problems;
  EXPECT_TRUE(has_text(problems, "$.agents.search.parameters")) << problems;
  EXPECT_TRUE(has_text(problems, "$.agents.researcher.params.tools")) << problems;
}

TEST(ToolLoop, ARealServersToolCallsStreamedInPiecesAreAssembled) {
  // `cohort mock-llm` scripts the same turns; streamed, it sends each call's arguments
  // in two pieces under the call's index.
  auto rules_path = std::filesystem::temp_directory_path() / ("cohort-tool-rules-" + std::to_string(::getpid()) + ".json");
  auto turns = json::array({json::array({call("calc", {{"a", 20}, {"b", 22}}), call("calc", {{"a", 1}, {"b", 2}})})});
  std::ofstream(rules_path) << json::array({{{"match", "research (\\w+)"}, {"tool_turns", turns},
                                             {"reply", "report: {{tool_results}}"}}}).dump();
  mock_llm_process mock({"--rules", rules_path.string()});
  for (bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "streamed" : "whole");
    cohort::Runtime rt(test_options());
    std::atomic<int> adds{0};
    rt.register_tool("calc", adder(adds));
    auto doc = researcher_scenario(turns, {"calc"});
    doc["models"]["brain"] = {{"provider", "openai"}, {"base_url", mock.base_url()}, {"stream", stream}};
    auto r = rt.run(rt.load(doc));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.output, "report: 42\n3");
    EXPECT_EQ(adds.load(), 2);
    EXPECT_EQ(r.summary.model_calls, 2);
  }
  std::filesystem::remove(rules_path);
}

TEST(ToolLoop, ARegisteredToolsSchemaIsWhatTheModelSeesAndWhatIsChecked) {
  cohort::Runtime rt(test_options());
  std::atomic<int> adds{0};
  json schema = {{"type", "object"},
                 {"required", {"a", "b"}},
                 {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "integer"}}}}}};
  rt.register_tool("calc", adder(adds), {"Adds two integers", schema});
  EXPECT_THROW(rt.register_tool("bad", adder(adds), {"", {{"type", 7}}}), std::invalid_argument);
  mock_llm_process mock;
  auto turns = json::array({json::array({call("calc", {{"a", 1}})})});  // b is missing
  auto doc = researcher_scenario(turns, {"calc"});
  doc["models"]["brain"]["rules"][0]["tool_turns"] = turns;
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(has_text(r.output.get<std::string>(), "error (invalid_arguments)")) << r.output;
  EXPECT_EQ(adds.load(), 0);
  // What the request carries: the registered description and schema.
  doc["models"]["brain"] = {{"provider", "openai"}, {"base_url", mock.base_url()}};
  rt.run(rt.load(doc));
  auto body = json::parse(cohort::testing::http_get(mock.port(), "/last-request"), nullptr, false);
  ASSERT_TRUE(body.is_object());
  auto function = body["tools"][0]["function"];
  EXPECT_EQ(function["name"], "calc");
  EXPECT_EQ(function["description"], "Adds two integers");
  EXPECT_EQ(function["parameters"], schema);
}
