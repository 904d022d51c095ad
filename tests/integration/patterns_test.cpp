// Every pattern on the one supervisor engine, run embedded on the sim model (and
// against real `cohort mock-llm` processes where cancellation must close connections):
// success paths, every documented error, early decisions, start-on-ready, nesting.
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::wait_stats;
using cohort::testing::mock_llm_process;
using cohort::testing::load_problems;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

// A sim model answering after `ms`, with scripted rules. A vector, not a json: with
// one element, a braced list to a json parameter is that element under clang, not an array.
json sim(int ms, std::vector<json> rules = {}, double failure_rate = 0) {
  return {{"provider", "sim"}, {"latency_ms", ms}, {"seed", 7}, {"rules", json(std::move(rules))},
          {"failure_rate", failure_rate}};
}

json rule(const std::string& match, const std::string& reply) { return {{"match", match}, {"reply", reply}}; }

json agent(const std::string& model, const std::string& prompt, json extra = json::object()) {
  json a{{"model", model}, {"prompt", prompt}};
  a.update(extra);
  return a;
}

class Patterns : public ::testing::Test {
 protected:
  cohort::Runtime rt{test_options()};
};

}  // namespace

// ---------------------------------------------------------------- race

TEST_F(Patterns, RaceFirstValidWinsAndLosersConnectionsAreClosed) {
  mock_llm_process fast({"--latency-ms", "50"});
  mock_llm_process slow({"--latency-ms", "20000"});
  auto sc = rt.load({{"models", {{"fast", {{"provider", "openai"}, {"base_url", fast.base_url()}}},
                                 {"slow", {{"provider", "openai"}, {"base_url", slow.base_url()}}}}},
                     {"agents", {{"quick", agent("fast", "search cats")}, {"careful", agent("slow", "search cats")}}},
                     {"workflow", {{"type", "race"}, {"branches", {{{"agent", "careful"}, {"name", "s1"}},
                                                                   {{"agent", "careful"}, {"name", "s2"}},
                                                                   {{"agent", "quick"}, {"name", "q"}},
                                                                   {{"agent", "careful"}, {"name", "s3"}}}}}}});
  auto started = std::chrono::steady_clock::now();
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(r.branches.succeeded, 1);
  EXPECT_EQ(r.branches.cancelled, 3);
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "q");
  for (int i : {0, 1, 3}) EXPECT_EQ(rep["runners"][i]["outcome"], "cancelled") << rep.dump();
  // The three slow requests were closed by the client: nothing left open at that server.
  auto s = wait_stats(slow.port(), [](const json& s) { return s["open_connections"] == 0; });
  EXPECT_EQ(s["open_connections"], 0) << s.dump();
  EXPECT_EQ(s["client_cancellations"], 3) << s.dump();
  EXPECT_EQ(s["in_flight"], 0) << s.dump();
}

TEST_F(Patterns, RaceSkipsInvalidResultsByRegexFieldsAndJudge) {
  auto sc = rt.load(json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 10, "rules": [
                 {"match": "^judge: .*good", "reply": "yes, acceptable"}, {"match": "^judge:", "reply": "no, too vague"},
                 {"match": "^fast", "reply": "nothing found"}, {"match": "^json", "reply": "{\"title\": \"x\"}"},
                 {"match": "^medium", "reply": "a good answer: 42"}]},
               "slow": {"provider": "sim", "latency_ms": 80, "rules": [{"match": "^slow", "reply": "the slow good answer: 7"}]}},
    "agents": {"fast": {"model": "m", "prompt": "fast {{input}}"}, "json": {"model": "m", "prompt": "json {{input}}"},
               "medium": {"model": "m", "prompt": "medium {{input}}"}, "slow": {"model": "slow", "prompt": "slow {{input}}"},
               "judge": {"model": "m", "prompt": "judge: {{candidate}}"}},
    "workflow": {"type": "race", "agents": ["fast", "json", "medium", "slow"], "accept": {"regex": "\\d+", "agent": "judge"}},
    "input": "q"
  })J"));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "a good answer: 42");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "medium");
  EXPECT_EQ(rep["runners"][0]["outcome"], "rejected");
  EXPECT_NE(rep["runners"][0]["reason"].get<std::string>().find("does not match"), std::string::npos);

  // json_fields, and a judge that says no to everything: an error naming each runner.
  auto doc = json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 5, "rules": [
      {"match": "^a", "reply": "{\"title\": \"t\"}"}, {"match": "^b", "reply": "{\"title\": \"t\", \"url\": \"u\"}"},
      {"match": "^judge", "reply": "no: the url is made up"}]}},
    "agents": {"a": {"model": "m", "prompt": "a", "output": "json"}, "b": {"model": "m", "prompt": "b", "output": "json"},
               "c": {"model": "m", "prompt": "c", "timeout_ms": 1}, "judge": {"model": "m", "prompt": "judge {{candidate}}"}},
    "workflow": {"type": "race", "agents": ["a", "b"], "accept": {"json_fields": ["title", "url"], "agent": "judge"}}
  })J");
  auto bad = rt.run(rt.load(doc));
  EXPECT_EQ(bad.status, "failed");
  EXPECT_EQ(bad.error_kind, "no_valid_result");
  EXPECT_NE(bad.error.find("a: rejected (missing JSON field \"url\")"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("b: rejected (the judge said: no: the url is made up)"), std::string::npos) << bad.error;
}

TEST_F(Patterns, RaceReportsFailedRunners) {
  auto sc = rt.load({{"models", {{"broken", sim(5, {}, 1.0)}}},
                     {"agents", {{"x", agent("broken", "x")}, {"y", agent("broken", "y")}}},
                     {"workflow", {{"type", "race"}, {"agents", {"x", "y"}}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.error_kind, "no_valid_result");
  EXPECT_NE(r.error.find("x: failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("y: failed"), std::string::npos) << r.error;
}

// ---------------------------------------------------------------- vote

TEST_F(Patterns, VoteWeightedMajorityWithNormalisation) {
  auto sc = rt.load(json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 5, "rules": [
      {"match": "^gpt", "reply": "Answer: PARIS."}, {"match": "^claude", "reply": "answer: lyon"},
      {"match": "^llama", "reply": "Answer: Lyon"}]},
               "quick": {"provider": "sim", "latency_ms": 0, "rules": [{"match": "^mistral", "reply": "no idea"}]}},
    "agents": {"gpt": {"model": "m", "prompt": "gpt q"}, "claude": {"model": "m", "prompt": "claude q"},
               "llama": {"model": "m", "prompt": "llama q"}, "mistral": {"model": "quick", "prompt": "mistral q"}},
    "workflow": {"type": "vote", "normalize": {"regex": "answer:\\s*(\\w+)"}, "branches": [
      {"agent": "gpt", "weight": 3}, {"agent": "claude", "weight": 1}, {"agent": "llama", "weight": 1},
      {"agent": "mistral", "weight": 1}]}
  })J"));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["normalized"], "paris");
  EXPECT_EQ(r.output["winner"], "Answer: PARIS.");
  EXPECT_DOUBLE_EQ(r.output["distribution"]["paris"].get<double>(), 3.0);
  // Lyon has up to two votes: once Paris leads by more than what is still to come
  // (3 against the 2 of the voters left), they are cancelled; arrival order decides.
  auto lyon = r.output["distribution"].value("lyon", 0.0);
  EXPECT_LE(lyon, 2.0) << r.output.dump();
  EXPECT_DOUBLE_EQ(r.output["confidence"].get<double>(), 3.0 / (3.0 + lyon));
  ASSERT_EQ(r.output["votes"].size(), 4u);
  EXPECT_EQ(r.output["votes"][3]["status"], "no vote");  // "no idea" does not match the regex
}

TEST_F(Patterns, VoteDecidesEarlyAndCancelsTheRest) {
  auto sc = rt.load({{"models", {{"quick", sim(10, {rule(".", "yes")})}, {"slow", sim(5000, {rule(".", "no")})}}},
                     {"agents", {{"q", agent("quick", "vote")}, {"s", agent("slow", "vote")}}},
                     {"workflow", {{"type", "vote"}, {"agents", {"q", "q", "q", "s", "s"}}}}});
  auto started = std::chrono::steady_clock::now();
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  // 3 of 5 equal votes for "yes": the two slow voters cannot change it.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(r.output["normalized"], "yes");
  EXPECT_EQ(r.output["decided_early"], true);
  EXPECT_EQ(r.output["votes"][3]["status"], "cancelled");
  EXPECT_EQ(r.branches.cancelled, 2);
}

TEST_F(Patterns, VoteRequireMajorityFailsWithTheDistribution) {
  auto sc = rt.load({{"models", {{"m", sim(5, {rule("^a", "red"), rule("^b", "green"), rule("^c", "blue")})}}},
                     {"agents", {{"a", agent("m", "a")}, {"b", agent("m", "b")}, {"c", agent("m", "c")}}},
                     {"workflow", {{"type", "vote"}, {"require_majority", true}, {"agents", {"a", "b", "c"}}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "no_majority");
  EXPECT_NE(r.error.find("\"green\": 1"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("more than half"), std::string::npos) << r.error;
}

TEST_F(Patterns, VoteTieGoesToTheFirstDeclaredVoter) {
  auto sc = rt.load({{"models", {{"m", sim(5, {rule("^a", "cat"), rule("^b", "dog"), rule("^c", "dog"), rule("^d", "cat")})}}},
                     {"agents", {{"a", agent("m", "a")}, {"b", agent("m", "b")}, {"c", agent("m", "c")}, {"d", agent("m", "d")}}},
                     {"workflow", {{"type", "vote"}, {"agents", {"b", "a", "c", "d"}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["normalized"], "dog");  // 2 against 2: b, declared first, said dog
}

TEST_F(Patterns, VoteAbstainingVotersLoseTheirWeightOnly) {
  auto sc = rt.load({{"models", {{"m", sim(5, {rule(".", "42")})}, {"broken", sim(5, {}, 1.0)}}},
                     {"agents", {{"ok", agent("m", "q")}, {"bad", agent("broken", "q")}}},
                     {"workflow", {{"type", "vote"}, {"agents", {"bad", "ok", "bad"}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["winner"], "42");
  EXPECT_EQ(r.output["votes"][0]["status"], "no vote");

  auto all_bad = rt.run(rt.load({{"models", {{"broken", sim(5, {}, 1.0)}}},
                                 {"agents", {{"bad", agent("broken", "q")}}},
                                 {"workflow", {{"type", "vote"}, {"agents", {"bad", "bad"}}}}}));
  EXPECT_EQ(all_bad.error_kind, "no_votes");
}

// ---------------------------------------------------------------- dag

TEST_F(Patterns, DagStartsEachNodeWhenItsOwnDependenciesAreDone) {
  auto sc = rt.load({{"models", {{"fast", sim(20, {rule("^research", "facts about {{0}}")})}, {"slow", sim(400)}}},
                     {"agents", {{"research", agent("fast", "research")}, {"survey", agent("slow", "survey")},
                                 {"write", agent("fast", "write using {{deps.facts}}")},
                                 {"final", agent("fast", "final {{deps.draft}} {{deps.survey}}")}}},
                     {"workflow", {{"type", "dag"}, {"nodes", {{{"id", "facts"}, {"agent", "research"}},
                                                               {{"id", "survey"}, {"agent", "survey"}},
                                                               {{"id", "draft"}, {"agent", "write"}, {"depends_on", {"facts"}}},
                                                               {{"id", "end"}, {"agent", "final"}, {"depends_on", {"draft", "survey"}}}}}}}});
  std::mutex m;
  std::map<std::string, int64_t> started, finished;
  auto r = rt.run(sc, std::nullopt, [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    (e.kind == "started" ? started : finished)[e.path] = e.at_ms;
  });
  ASSERT_TRUE(r.ok()) << r.error;
  // "draft" (layer 1) started long before "survey" (layer 0) finished.
  ASSERT_TRUE(started.count("workflow/draft") && finished.count("workflow/survey"));
  EXPECT_LT(started["workflow/draft"] + 200, finished["workflow/survey"]);
  EXPECT_GE(started["workflow/end"], finished["workflow/survey"]);
  EXPECT_NE(r.output["draft"].get<std::string>().find("facts about"), std::string::npos) << r.output.dump();
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["layers"], json::parse(R"([["facts", "survey"], ["draft"], ["end"]])"));
  EXPECT_EQ(rep["critical_path"], json::parse(R"(["survey", "end"])"));
  EXPECT_GT(rep["efficiency"].get<double>(), 0.9);
  EXPECT_LE(rep["efficiency"].get<double>(), 1.0);
}

TEST_F(Patterns, DagOutputOfOneNodeAndAggregation) {
  json base{{"models", {{"m", sim(1, {rule("^step (\\w+)", "{{1}}")})}}},
            {"agents", {{"s", agent("m", "step {{with_id}}")}}}};
  auto doc = base;
  doc["workflow"] = {{"type", "dag"}, {"output", "b"},
                     {"nodes", {{{"id", "a"}, {"agent", "s"}, {"with", {{"with_id", "alpha"}}}},
                                {{"id", "b"}, {"agent", "s"}, {"with", {{"with_id", "beta"}}}, {"depends_on", {"a"}}}}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "beta");
  doc["workflow"].erase("output");
  doc["workflow"]["aggregate"] = {{"type", "join"}, {"separator", "+"}};
  r = rt.run(rt.load(doc));
  EXPECT_EQ(r.output, "alpha+beta");
}

TEST_F(Patterns, DagValidationNamesTheNodes) {
  json base{{"models", {{"m", sim(1)}}}, {"agents", {{"a", agent("m", "x")}, {"d", agent("m", "{{deps.one}}")}}}};
  auto cyc = base;
  cyc["workflow"] = {{"type", "dag"}, {"nodes", {{{"id", "one"}, {"agent", "a"}, {"depends_on", {"three"}}},
                                                 {{"id", "two"}, {"agent", "a"}, {"depends_on", {"one"}}},
                                                 {{"id", "three"}, {"agent", "a"}, {"depends_on", {"two"}}}}}};
  auto text = load_problems(rt, cyc);
  EXPECT_NE(text.find("dependency cycle: one -> three -> two -> one"), std::string::npos) << text;

  auto self = base;
  self["workflow"] = {{"type", "dag"}, {"nodes", {{{"id", "one"}, {"agent", "a"}, {"depends_on", {"one"}}}}}};
  text = load_problems(rt, self);
  EXPECT_NE(text.find("$.workflow.nodes[0]: \"one\" depends on itself"), std::string::npos) << text;

  auto unknown = base;
  unknown["workflow"] = {{"type", "dag"}, {"nodes", {{{"id", "one"}, {"agent", "a"}},
                                                     {{"id", "two"}, {"agent", "a"}, {"depends_on", {"oen"}}},
                                                     {{"id", "one"}, {"agent", "a"}}}}};
  text = load_problems(rt, unknown);
  EXPECT_NE(text.find("$.workflow.nodes[1]: \"two\" depends on unknown node \"oen\""), std::string::npos) << text;
  EXPECT_NE(text.find("$.workflow.nodes[2]: duplicate id \"one\""), std::string::npos) << text;

  auto not_dep = base;  // reads {{deps.one}} but does not depend on it
  not_dep["workflow"] = {{"type", "dag"}, {"nodes", {{{"id", "one"}, {"agent", "a"}},
                                                     {{"id", "two"}, {"agent", "a"}},
                                                     {{"id", "three"}, {"agent", "d"}, {"depends_on", {"two"}}}}}};
  text = load_problems(rt, not_dep);
  EXPECT_NE(text.find("$.agents.d.prompt: {{deps.one}}: \"one\" is not a dependency"), std::string::npos) << text;

  auto stray = base;
  stray["workflow"] = {{"type", "pipeline"}, {"steps", {{{"agent", "a"}, {"depends_on", {"x"}}}}}};
  text = load_problems(rt, stray);
  EXPECT_NE(text.find("$.workflow.steps[0].depends_on: only the nodes of a dag"), std::string::npos) << text;
}

// ---------------------------------------------------------------- plan

TEST_F(Patterns, PlanIsValidatedAskedAgainAndRun) {
  auto sc = rt.load(json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 5, "rules": [
      {"match": "previous plan was invalid", "reply": "Here it is: {\"nodes\": [{\"id\": 1, \"role\": \"researcher\", \"task\": \"find facts\"}, {\"id\": 2, \"role\": \"writer\", \"task\": \"write it up\", \"depends_on\": [1]}]}"},
      {"match": "^plan", "reply": "{\"nodes\": [{\"id\": 1, \"role\": \"researcher\", \"task\": \"a\", \"depends_on\": [2]}, {\"id\": 2, \"role\": \"writer\", \"task\": \"b\", \"depends_on\": [1]}, {\"id\": 3, \"role\": \"painter\", \"task\": \"c\"}]}"},
      {"match": "^do (.*) as (\\w+)", "reply": "{{2}} did {{1}}"}]}},
    "agents": {
      "coordinator": {"model": "m", "prompt": "plan the report on {{input}}. {{feedback}}"},
      "researcher": {"model": "m", "prompt": "do {{task}} as {{role}}"},
      "writer": {"model": "m", "prompt": "do {{task}} as {{role}} from {{deps}}"}
    },
    "workflow": {"type": "plan", "planner": "coordinator", "roles": ["researcher", "writer"]},
    "input": "owls"
  })J"));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["1"], "researcher did find facts");
  EXPECT_NE(r.output["2"].get<std::string>().find("writer did write it up"), std::string::npos);
  const auto& rep = r.reports.at("workflow");
  ASSERT_EQ(rep["attempts"].size(), 2u);
  auto first_problems = rep["attempts"][0]["problems"].dump();
  EXPECT_NE(first_problems.find("unknown role \\\"painter\\\""), std::string::npos) << first_problems;
  EXPECT_EQ(rep["plan"]["nodes"].size(), 2u);
  EXPECT_EQ(r.reports.at("workflow/dag")["layers"], json::parse(R"([["1"], ["2"]])"));
}

TEST_F(Patterns, PlanGivesUpAfterMaxAttempts) {
  auto sc = rt.load(json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 1, "rules": [
      {"match": "^plan", "reply": "[{\"id\": \"a\", \"role\": \"w\", \"task\": \"t\", \"depends_on\": [\"a\"]}]"}]}},
    "agents": {"p": {"model": "m", "prompt": "plan {{feedback}}"}, "w": {"model": "m", "prompt": "{{task}}"}},
    "workflow": {"type": "plan", "planner": "p", "roles": ["w"], "max_attempts": 2}
  })J"));
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "invalid_plan");
  EXPECT_NE(r.error.find("after 2 attempts"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("depends on itself"), std::string::npos) << r.error;
}

// ---------------------------------------------------------------- tree

TEST_F(Patterns, TreeQuicksortsByDivideAndConquer) {
  json nums = json::array();
  for (int i = 0; i < 40; ++i) nums.push_back((i * 37) % 41);
  auto sc = rt.load({{"models", {{"m", sim(1)}}},
                     {"agents", {{"split", {{"type", "tool"}, {"tool", "partition"}, {"input", "{{item}}"}}},
                                 {"combine", {{"type", "tool"}, {"tool", "concat"},
                                              {"input", {"{{results.0}}", {"{{split.pivot}}"}, "{{results.1}}"}}}}}},
                     {"workflow", {{"type", "tree"}, {"problem", "input.nums"}, {"split", "split"}, {"combine", "combine"},
                                   {"max_depth", 40}}},
                     {"input", {{"nums", nums}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  auto sorted = nums.get<std::vector<int>>();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(r.output, json(sorted));
}

TEST_F(Patterns, TreeBaseCasesUseTheLeafAgentAndMaxDepth) {
  auto sc = rt.load(json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 1, "rules": [{"match": "^solve (.*)", "reply": "<{{1}}>"},
                                                                 {"match": "^halve (.*)", "reply": "no json"}]}},
    "agents": {
      "halve": {"type": "tool", "tool": "echo", "input": {"parts": ["{{item.left}}", "{{item.right}}"]}},
      "join": {"type": "tool", "tool": "join", "input": {"items": "{{results}}", "separator": "|"}},
      "solve": {"model": "m", "prompt": "solve {{item}} at {{depth}}"}
    },
    "workflow": {"type": "tree", "split": "halve", "combine": "join", "leaf": "solve", "max_depth": 1, "base_max_size": 0},
    "input": {"left": {"left": 1, "right": 2}, "right": 3}
  })J"));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  // Depth 1 is the limit: both halves are solved by the leaf agent, not split again.
  EXPECT_EQ(r.output, "<{\"left\":1,\"right\":2} at 1>|<3 at 1>");
}

// ---------------------------------------------------------------- fallback

TEST_F(Patterns, FallbackTriesAlternativesInOrder) {
  auto sc = rt.load({{"models", {{"broken", sim(5, {}, 1.0)}, {"slow", sim(3000)}, {"ok", sim(5, {rule(".", "backup answer")})}}},
                     {"agents", {{"primary", agent("broken", "q")}, {"second", agent("slow", "q", {{"timeout_ms", 50}})},
                                 {"third", agent("ok", "q")}}},
                     {"workflow", {{"type", "fallback"}, {"agents", {"primary", "second", "third"}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "backup answer");
  const auto& attempts = r.reports.at("workflow")["attempts"];
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0]["outcome"], "failed");
  EXPECT_EQ(attempts[1]["outcome"], "timed_out");
  EXPECT_EQ(attempts[2]["outcome"], "succeeded");

  auto none = rt.run(rt.load({{"models", {{"broken", sim(5, {}, 1.0)}}},
                              {"agents", {{"a", agent("broken", "q")}, {"b", agent("broken", "q")}}},
                              {"workflow", {{"type", "fallback"}, {"agents", {"a", "b"}}}}}));
  EXPECT_EQ(none.status, "failed");
  EXPECT_NE(none.error.find("every alternative failed"), std::string::npos) << none.error;
  EXPECT_NE(none.error.find("\n    b: failed"), std::string::npos) << none.error;
}

// ---------------------------------------------------------------- loop

TEST_F(Patterns, LoopRefinesUntilTheCriticAccepts) {
  auto doc = json::parse(R"J({
    "models": {"m": {"provider": "sim", "latency_ms": 2, "rules": [
      {"match": "^critique: draft 3", "reply": "APPROVED"},
      {"match": "^critique", "reply": "No: needs more detail"},
      {"match": "^write .* try (\\d)", "reply": "draft {{1}}"}]}},
    "agents": {
      "writer": {"model": "m", "prompt": "write about {{input}}, try {{iteration}}; feedback: {{feedback}}; before: {{previous}}"},
      "critic": {"model": "m", "prompt": "critique: {{candidate}}"}
    },
    "workflow": {"type": "loop", "agent": "writer", "until": {"agent": "critic"}, "max_iterations": 5},
    "input": "tides"
  })J");
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "draft 3");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["iterations"], 3);
  EXPECT_EQ(rep["history"][0]["feedback"], "No: needs more detail");

  doc["workflow"]["max_iterations"] = 2;
  auto exhausted = rt.run(rt.load(doc));
  EXPECT_EQ(exhausted.error_kind, "not_accepted");
  EXPECT_NE(exhausted.error.find("after 2 iterations"), std::string::npos) << exhausted.error;
  doc["workflow"]["on_exhausted"] = "last";
  auto last = rt.run(rt.load(doc));
  ASSERT_TRUE(last.ok()) << last.error;
  EXPECT_EQ(last.output, "draft 2");
  EXPECT_EQ(last.reports.at("workflow")["accepted"], false);
}

// ---------------------------------------------------------------- aggregations

TEST_F(Patterns, FanOutAggregatesFirstVoteAndSynthesize) {
  json doc{{"models", {{"m", sim(5, {rule("^summarise (.*)", "summary of {{1}}"), rule("^item (\\w+)", "{{1}}")})},
                       {"slow", sim(3000)}}},
           {"agents", {{"a", agent("m", "item {{item}}")}, {"s", agent("slow", "item {{item}}")},
                       {"writer", agent("m", "summarise {{results}}")}}}};
  doc["workflow"] = {{"type", "fan_out"}, {"over", "input"}, {"agent", "a"}, {"aggregate", {{"type", "synthesize"}, {"agent", "writer"}}}};
  doc["input"] = {"x", "y"};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "summary of [\"x\",\"y\"]");

  doc["workflow"] = {{"type", "fan_out"}, {"over", "input"}, {"agent", "a"}, {"aggregate", "vote"}};
  doc["input"] = {"Yes", "no", "yes "};
  r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["normalized"], "yes");

  doc["workflow"] = {{"type", "fan_out"}, {"branches", {{{"agent", "s"}}, {{"agent", "a"}}}}, {"aggregate", "first"}};
  doc["input"] = json::object();
  doc["agents"]["a"]["prompt"] = "item quick";
  doc["agents"]["s"]["prompt"] = "item slow";
  auto started = std::chrono::steady_clock::now();
  r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "quick");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(r.branches.cancelled, 1);
}

// ---------------------------------------------------------------- nesting

// Twelve levels, every pattern in the chain at least once; the leaf answer travels up.
TEST_F(Patterns, NestsTwelveLevelsDeep) {
  json leaf{{"agent", "a"}};
  const std::vector<std::string> kinds{"race", "vote", "dag", "fallback", "loop", "pipeline", "fan_out",
                                       "race", "vote", "dag", "fallback", "pipeline"};
  json node = leaf;
  for (auto it = kinds.rbegin(); it != kinds.rend(); ++it) {
    const auto& k = *it;
    json n{{"type", k}};
    if (k == "race" || k == "vote" || k == "fallback") n["branches"] = {node, leaf};
    if (k == "pipeline") n["steps"] = json::array({node});
    if (k == "fan_out") n["branches"] = json::array({node}), n["aggregate"] = "first";
    if (k == "loop") n["do"] = node, n["until"] = {{"regex", "deep"}};
    if (k == "dag") {
      json inner = node;
      inner["id"] = "inner";
      n["nodes"] = {inner, {{"id", "after"}, {"agent", "a"}, {"depends_on", {"inner"}}}};
      n["output"] = "inner";
    }
    node = n;
  }
  auto sc = rt.load({{"models", {{"m", sim(1, {rule(".", "deep answer")})}}},
                     {"agents", {{"a", agent("m", "go")}}},
                     {"workflow", node}});
  auto baseline = rt.live_actors();
  std::mutex m;
  std::string deepest;  // the leaf agent's path with the most levels
  auto r = rt.run(sc, std::nullopt, [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    if (e.leaf && std::count(e.path.begin(), e.path.end(), '/') > std::count(deepest.begin(), deepest.end(), '/'))
      deepest = e.path;
  });
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_NE(r.output.dump().find("deep answer"), std::string::npos) << r.output.dump();
  EXPECT_EQ(std::count(deepest.begin(), deepest.end(), '/'), 12) << deepest;
  for (int i = 0; i < 200 && rt.live_actors() != baseline; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rt.live_actors(), baseline);
}

// ---------------------------------------------------------------- the remaining errors

TEST_F(Patterns, FirstFailsOnlyWhenEveryBranchFails) {
  auto r = rt.run(rt.load({{"models", {{"broken", sim(5, {}, 1.0)}}},
                           {"agents", {{"a", agent("broken", "q")}, {"b", agent("broken", "q")}}},
                           {"workflow", {{"type", "fan_out"}, {"agents", {"a", "b"}}, {"aggregate", "first"}}}}));
  EXPECT_EQ(r.error_kind, "all_failed");
  EXPECT_NE(r.error.find("every branch failed"), std::string::npos) << r.error;
  EXPECT_EQ(r.branches.failed, 2);
}

TEST_F(Patterns, TreeSplitMustAnswerParts) {
  auto r = rt.run(rt.load({{"models", {{"m", sim(1, {rule(".", "I would rather not")})}}},
                           {"agents", {{"split", agent("m", "split {{item}}")}, {"join", agent("m", "{{results}}")}}},
                           {"workflow", {{"type", "tree"}, {"problem", "input.xs"}, {"split", "split"}, {"combine", "join"}}},
                           {"input", {{"xs", {3, 1, 2}}}}}));
  EXPECT_EQ(r.error_kind, "invalid_output");
  EXPECT_NE(r.error.find("workflow/split: expected an array of parts"), std::string::npos) << r.error;

  auto missing = rt.run(rt.load({{"models", {{"m", sim(1)}}},
                                 {"agents", {{"split", agent("m", "split {{item}}")}, {"join", agent("m", "{{results}}")}}},
                                 {"workflow", {{"type", "tree"}, {"problem", "input.xs"}, {"split", "split"}, {"combine", "join"}}},
                                 {"input", {{"ys", 1}}}}));
  EXPECT_EQ(missing.error_kind, "invalid_input");
  EXPECT_NE(missing.error.find("$.workflow.problem: \"input.xs\" does not resolve"), std::string::npos) << missing.error;
}

TEST_F(Patterns, PatternKeysAreValidated) {
  json base{{"models", {{"m", sim(1)}}}, {"agents", {{"a", agent("m", "x")}, {"j", agent("m", "{{candidate}}")}}}};
  auto doc = base;
  doc["workflow"] = {{"type", "plan"}, {"planner", "a"}};
  auto text = load_problems(rt, doc);
  EXPECT_NE(text.find("roles"), std::string::npos) << text;
  doc["workflow"] = {{"type", "loop"}, {"agent", "a"}};
  text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.workflow: a loop needs \"until\""), std::string::npos) << text;
  doc["workflow"] = {{"type", "race"}, {"agents", {"a"}}, {"accept", {{"regex", "("}}}};
  text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.workflow.accept.regex: bad regex"), std::string::npos) << text;
  doc["workflow"] = {{"type", "vote"}, {"agents", {"j"}}};  // {{candidate}} is a judge's word, not a voter's
  text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.agents.j.prompt: {{candidate}} is not bound"), std::string::npos) << text;
  doc["workflow"] = {{"type", "fan_out"}, {"agents", {"a"}}, {"aggregate", "synthesize"}};
  text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.workflow.aggregate"), std::string::npos) << text;
}
