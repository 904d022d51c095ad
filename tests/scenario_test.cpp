// Scenario loading: every validation error names its JSON path and what is wrong.
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "runtime/src/scenario.hpp"

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
  expect_problem(doc2, "$.models.fast.rules[0].match", "invalid regex");
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
  auto path = testing::TempDir() + "/broken.json";
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
