// Scenario loading: every validation error names its JSON path and what is wrong.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "spec/scenario.hpp"

using cohort::load_scenario;
using cohort::scenario_error;
using nlohmann::json;

namespace {

const std::vector<std::string> tools{"echo", "join"};

json valid() {
  return json::parse(R"({
    "name": "t",
    "models": {"fast": {"provider": "sim", "latency_ms": {"min": 1, "max": 2}}},
    "agents": {
      "researcher": {"type": "llm", "model": "fast", "prompt": "About {{item}}"},
      "analyst": {"type": "llm", "model": "fast", "prompt": "Compare {{results}}"},
      "echo": {"type": "tool", "tool": "echo"}
    },
    "workflow": {"type": "pipeline", "steps": [
      {"type": "fan_out", "over": "input.langs", "agent": "researcher"},
      {"agent": "analyst"}
    ]},
    "input": {"langs": ["a", "b"]}
  })");
}

// The problems reported for `doc`, joined; empty when it loads.
std::string problems(const json& doc) {
  try {
    load_scenario(doc, "test.json", tools);
    return "";
  } catch (const scenario_error& e) {
    return e.what();
  }
}

void expect_problem(const json& doc, const std::string& path, const std::string& what) {
  auto text = problems(doc);
  EXPECT_NE(text.find(path), std::string::npos) << "path " << path << " not in:\n" << text;
  EXPECT_NE(text.find(what), std::string::npos) << "'" << what << "' not in:\n" << text;
}

}  // namespace

TEST(Scenario, ValidScenarioLoads) {
  auto s = load_scenario(valid(), "test.json", tools);
  EXPECT_EQ(s.name, "t");
  ASSERT_EQ(s.workflow->kind, cohort::node_kind::pipeline);
  ASSERT_EQ(s.workflow->children.size(), 2u);
  EXPECT_EQ(s.workflow->children[0]->kind, cohort::node_kind::fan_out);
  EXPECT_EQ(s.workflow->children[0]->each->agent, "researcher");
  EXPECT_EQ(s.models.at("fast").sim.latency_max_ms, 2);
}

TEST(Scenario, UnknownAgent) {
  auto doc = valid();
  doc["workflow"]["steps"][1]["agent"] = "analyzt";
  expect_problem(doc, "$.workflow.steps[1].agent", "unknown agent \"analyzt\"");
}

TEST(Scenario, UnknownModel) {
  auto doc = valid();
  doc["agents"]["analyst"]["model"] = "gpt";
  expect_problem(doc, "$.agents.analyst.model", "unknown model \"gpt\" (defined: fast)");
}

TEST(Scenario, MissingKey) {
  auto doc = valid();
  doc.erase("workflow");
  expect_problem(doc, "$", "workflow");
  auto doc2 = valid();
  doc2["agents"]["analyst"].erase("prompt");
  expect_problem(doc2, "$.agents.analyst", "prompt");
}

TEST(Scenario, WrongType) {
  auto doc = valid();
  doc["workflow"]["steps"][0]["max_concurrency"] = "eight";
  expect_problem(doc, "$.workflow.steps[0].max_concurrency", "type");
  auto doc2 = valid();
  doc2["models"]["fast"]["latency_ms"] = "slow";
  expect_problem(doc2, "$.models.fast.latency_ms", "(got \"slow\")");
}

TEST(Scenario, UnknownWorkflowTypeAndTool) {
  auto doc = valid();
  doc["workflow"]["steps"][0]["type"] = "fan_in";
  expect_problem(doc, "$.workflow.steps[0].type", "fan_in");
  auto doc2 = valid();
  doc2["agents"]["echo"]["tool"] = "nope";
  expect_problem(doc2, "$.agents.echo.tool", "unknown tool \"nope\" (registered: echo, join)");
}

TEST(Scenario, UnboundTemplateReference) {
  auto doc = valid();
  doc["agents"]["analyst"]["prompt"] = "Compare {{item}}";  // the analyst runs outside the fan-out
  expect_problem(doc, "$.agents.analyst.prompt", "{{item}} is not bound where this agent runs ($.workflow.steps[1])");
  auto doc2 = valid();
  doc2["agents"]["researcher"]["prompt"] = "About {{results}}";  // first step: no previous results
  expect_problem(doc2, "$.agents.researcher.prompt", "{{results}} is not bound");
}

TEST(Scenario, MalformedTemplate) {
  auto doc = valid();
  doc["agents"]["analyst"]["prompt"] = "Compare {{results";
  expect_problem(doc, "$.agents.analyst.prompt", "bad template: unclosed");
}

TEST(Scenario, OverMustBeAnArrayInTheInput) {
  auto doc = valid();
  doc["input"]["langs"] = "python";
  expect_problem(doc, "$.workflow.steps[0].over", "must be an array, is string");
  auto doc2 = valid();
  doc2["workflow"]["steps"][0]["over"] = "input.nothing";
  expect_problem(doc2, "$.workflow.steps[0].over", "not in the input");
}

TEST(Scenario, BadAggregationAndRegex) {
  auto doc = valid();
  doc["workflow"]["steps"][0]["aggregate"] = {{"type", "reduce"}};
  expect_problem(doc, "$.workflow.steps[0].aggregate", "reduce needs");
  auto doc2 = valid();
  doc2["models"]["fast"]["rules"] = json::array({{{"match", "(unclosed"}, {"reply", "x"}}});
  expect_problem(doc2, "$.models.fast.rules[0].match", "bad regex");
}

TEST(Scenario, AllProblemsAreReportedAtOnce) {
  auto doc = valid();
  doc["agents"]["analyst"]["model"] = "gpt";
  doc["workflow"]["steps"][1]["agent"] = "nobody";
  auto text = problems(doc);
  EXPECT_NE(text.find("unknown model"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown agent"), std::string::npos) << text;
}

TEST(Scenario, SyntaxErrorNamesFileLineAndColumn) {
  auto path = testing::TempDir() + "/broken-" + std::to_string(::getpid()) + ".json";  // this process's own
  {
    std::ofstream out(path);
    out << "{\n  \"models\": {},\n  \"agents\": {,}\n}\n";
  }
  try {
    cohort::load_scenario_file(path, tools);
    FAIL() << "expected an error";
  } catch (const scenario_error& e) {
    std::string text = e.what();
    EXPECT_NE(text.find(path), std::string::npos) << text;
    EXPECT_NE(text.find("line 3:"), std::string::npos) << text;
  }
  std::remove(path.c_str());
}

TEST(Scenario, ReplacementInputIsChecked) {
  auto s = load_scenario(valid(), "test.json", tools);
  EXPECT_NO_THROW(cohort::validate_input(s, json{{"langs", {"x"}}}));
  EXPECT_THROW(cohort::validate_input(s, json{{"langs", 3}}), scenario_error);
}

TEST(Scenario, ModelEndpointsLoadWithDefaults) {
  auto doc = valid();
  doc["models"]["fast"] = json::parse(R"({"provider": "openai", "model": "m", "max_in_flight": 8, "rpm": 600,
    "affinity": "run", "breaker": {"failures": 3},
    "endpoints": [{"base_url": "http://127.0.0.1:8001/v1"},
                  {"base_url": "http://127.0.0.1:8002/v1", "max_in_flight": 2, "tpm": 1000, "weight": 2.5}]})");
  auto m = load_scenario(doc, "test.json", tools).models.at("fast");
  ASSERT_EQ(m.endpoints.size(), 2u);
  EXPECT_EQ(m.endpoints[0].max_in_flight, 8);  // the model's values are the defaults
  EXPECT_EQ(m.endpoints[0].rpm, 600);
  EXPECT_EQ(m.endpoints[0].tpm, 0);
  EXPECT_EQ(m.endpoints[1].max_in_flight, 2);
  EXPECT_EQ(m.endpoints[1].tpm, 1000);
  EXPECT_DOUBLE_EQ(m.endpoints[1].weight, 2.5);
  EXPECT_EQ(m.affinity, cohort::affinity_mode::run);
  EXPECT_EQ(m.breaker.failures, 3);
  EXPECT_EQ(m.breaker.open_ms, 2000);
  EXPECT_TRUE(m.needs_pool());
  auto second = m.for_endpoint(1);
  EXPECT_EQ(second.base_url, "http://127.0.0.1:8002/v1");
  EXPECT_EQ(second.max_in_flight, 2);
}

TEST(Scenario, SingleBaseUrlIsOneEndpointWithoutAPool) {
  auto doc = valid();
  doc["models"]["fast"] = {{"provider", "openai"}, {"base_url", "http://127.0.0.1:8001/v1"}, {"max_in_flight", 4}};
  auto m = load_scenario(doc, "test.json", tools).models.at("fast");
  ASSERT_EQ(m.endpoints.size(), 1u);
  EXPECT_EQ(m.endpoints[0].max_in_flight, 4);
  EXPECT_FALSE(m.needs_pool()) << "a lone plain endpoint talks to its HTTP client directly";
  doc["models"]["fast"]["rpm"] = 60;
  EXPECT_TRUE(load_scenario(doc, "test.json", tools).models.at("fast").needs_pool());
}

TEST(Scenario, BadEndpointsNameTheirPath) {
  auto doc = valid();
  doc["models"]["fast"] = {{"provider", "openai"},
                           {"endpoints", {{{"base_url", "http://a:1/v1"}}, {{"base_url", "ftp://b/v1"}},
                                          {{"base_url", "http://a:1/v1"}}}}};
  expect_problem(doc, "$.models.fast.endpoints[1].base_url", "scheme \"ftp\" is not supported");
  expect_problem(doc, "$.models.fast.endpoints[2].base_url", "is already endpoints[0]");
  // Boost.URL takes an empty port and any digits; a connection could not (it threw on the I/O thread).
  for (const char* url : {"http://127.0.0.1:/v1", "http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1"}) {
    auto port = valid();
    port["models"]["fast"] = {{"provider", "openai"}, {"base_url", url}};
    expect_problem(port, "$.models.fast.base_url", "is not a number from 1 to 65535");
  }
  auto both = valid();
  both["models"]["fast"] = {{"provider", "openai"}, {"base_url", "http://a/v1"},
                            {"endpoints", {{{"base_url", "http://b/v1"}}}}};
  expect_problem(both, "$.models.fast", "either base_url or endpoints, not both");
  auto neither = valid();
  neither["models"]["fast"] = {{"provider", "openai"}};
  expect_problem(neither, "$.models.fast", "needs base_url or endpoints");
  auto weight = valid();
  weight["models"]["fast"] = {{"provider", "openai"}, {"endpoints", {{{"base_url", "http://a/v1"}, {"weight", 0}}}}};
  expect_problem(weight, "$.models.fast.endpoints[0].weight", "(got 0)");
  auto affinity = valid();
  affinity["models"]["fast"] = {{"provider", "openai"}, {"base_url", "http://a/v1"}, {"affinity", "user"}};
  expect_problem(affinity, "$.models.fast.affinity", "(got \"user\")");
  auto breaker = valid();
  breaker["models"]["fast"] = {{"provider", "openai"}, {"base_url", "http://a/v1"}, {"breaker", {{"failures", 0}}}};
  expect_problem(breaker, "$.models.fast.breaker.failures", "(got 0)");
}

// Node paths join labels with '/': a name holding one would make two paths alike.
TEST(Scenario, NamesWithASlashAreRefusedWithTheirPath) {
  auto agent = valid();
  agent["agents"]["a/b"] = agent["agents"]["analyst"];
  expect_problem(agent, "$.agents.a/b", "contains '/', which separates the parts of a node path");

  auto node = valid();
  node["workflow"]["steps"][1]["name"] = "x/y";
  expect_problem(node, "$.workflow.steps[1].name", "\"x/y\" contains '/'");

  auto dag = valid();
  dag["workflow"] = json::parse(R"({"type": "dag", "nodes": [
      {"id": "first/one", "agent": "analyst"}, {"id": "two", "agent": "analyst", "depends_on": ["first/one"]}]})");
  expect_problem(dag, "$.workflow.nodes[0].id", "\"first/one\" contains '/'");
}

TEST(Scenario, ToolAgentsAloneNeedNoModels) {
  auto doc = json::parse(R"({"agents": {"e": {"type": "tool", "tool": "echo"}}, "workflow": {"agent": "e"}})");
  EXPECT_EQ(problems(doc), "");
  doc["agents"]["w"] = {{"type", "llm"}, {"model", "gpt"}, {"prompt", "hi"}};
  expect_problem(doc, "$.agents.w.model", "unknown model \"gpt\"");
}
