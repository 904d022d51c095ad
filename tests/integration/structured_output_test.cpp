// Structured output: an llm agent's output_schema. An answer that breaks it goes back
// to the model with its problems (JSON paths) and is repaired, or fails with
// invalid_output after max_repairs; a model that takes json_schema gets it as
// response_format, any other as an instruction (seen by a real `cohort mock-llm`,
// which answers with JSON of the asked shape); it works inside a pattern (a vote).
#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::has_text;
using cohort::testing::load_problems;
using cohort::testing::mock_llm_process;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

const json person_schema = {{"type", "object"},
                            {"required", {"name", "born"}},
                            {"properties", {{"name", {{"type", "string"}}}, {"born", {{"type", "integer"}}}}}};

// The first answer is `first`; an answer to a repair request is `repaired`.
json structured_scenario(const std::string& first, const std::string& repaired, int max_repairs = 2) {
  return {{"name", "structured"},
          {"models", {{"m", {{"provider", "sim"},
                             {"rules", json::array({{{"match", "does not match the required JSON Schema"},
                                                     {"reply", repaired}},
                                                    {{"match", "Describe"}, {"reply", first}}})}}}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "Describe Ada Lovelace."},
                             {"output_schema", person_schema}, {"max_repairs", max_repairs}}}}},
          {"workflow", {{"agent", "a"}}}};
}

}  // namespace

TEST(StructuredOutput, AnInvalidAnswerIsRepairedOnce) {
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(structured_scenario(R"({"name": 5, "born": 1815})", R"({"name": "Ada", "born": 1815})")));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({{"name", "Ada"}, {"born", 1815}}));
  EXPECT_EQ(r.summary.model_calls, 2);  // both calls count, in the summary and the usage
  EXPECT_EQ(r.usage["agents"]["a"]["model_calls"], 2);
}

TEST(StructuredOutput, AnAnswerThatIsNotJsonIsRepairedToo) {
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(structured_scenario("Ada Lovelace, born 1815.", "```json\n{\"name\": \"Ada\", \"born\": 1815}\n```")));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["born"], 1815);
}

TEST(StructuredOutput, StillInvalidAfterMaxRepairsFailsWithTheProblems) {
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(structured_scenario(R"({"name": 5})", R"({"name": "Ada", "born": "1815"})")));
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "invalid_output") << r.error;
  EXPECT_TRUE(has_text(r.error, "does not match its output_schema after 2 repairs")) << r.error;
  EXPECT_TRUE(has_text(r.error, "$.born")) << r.error;  // the last answer's problem, by JSON path
  EXPECT_EQ(r.summary.model_calls, 3);
  // No repairs allowed: the first answer's problems.
  r = rt.run(rt.load(structured_scenario(R"({"name": 5})", R"({"name": "Ada", "born": 1815})", 0)));
  EXPECT_EQ(r.error_kind, "invalid_output") << r.error;
  EXPECT_TRUE(has_text(r.error, "$.name")) << r.error;
  EXPECT_EQ(r.summary.model_calls, 1);
}

TEST(StructuredOutput, AVoteCountsStructuredAnswers) {
  cohort::Runtime rt(test_options());
  auto choice = json{{"type", "object"}, {"required", {"choice"}},
                     {"properties", {{"choice", {{"enum", {"ship", "wait"}}}}}}};
  // v1 first answers "maybe", outside the enum; repaired, it votes "ship" with v2.
  json doc = {{"name", "structured-vote"},
              {"models", {{"m", {{"provider", "sim"},
                                 {"rules", json::array({{{"match", "does not match"}, {"reply", R"({"choice": "ship"})"}},
                                                        {{"match", "voter 1"}, {"reply", R"({"choice": "maybe"})"}},
                                                        {{"match", "voter 2"}, {"reply", R"({"choice": "ship"})"}},
                                                        {{"match", "voter"}, {"reply", R"({"choice": "wait"})"}}})}}}}},
              {"agents", {{"v1", {{"model", "m"}, {"prompt", "voter 1: ship?"}, {"output_schema", choice}}},
                          {"v2", {{"model", "m"}, {"prompt", "voter 2: ship?"}, {"output_schema", choice}}},
                          {"v3", {{"model", "m"}, {"prompt", "voter 3: ship?"}, {"output_schema", choice}}}}},
              {"workflow", {{"type", "vote"}, {"agents", {"v1", "v2", "v3"}}, {"normalize", {{"field", "choice"}}}}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["winner"], json({{"choice", "ship"}}));
  const auto& votes = r.output["votes"];
  EXPECT_EQ(votes[0]["answer"], json({{"choice", "ship"}})) << votes;
  EXPECT_GE(r.usage["agents"]["v1"]["model_calls"], 2);
}

TEST(StructuredOutput, ResponseFormatOrInstructionAsTheModelDeclares) {
  mock_llm_process mock;
  for (bool takes_schema : {true, false}) {
    SCOPED_TRACE(takes_schema ? "json_schema" : "instruction");
    cohort::Runtime rt(test_options());
    auto doc = structured_scenario("", "");
    doc["models"]["m"] = {{"provider", "openai"}, {"base_url", mock.base_url()}, {"json_schema", takes_schema}};
    auto r = rt.run(rt.load(doc));
    auto body = json::parse(cohort::testing::http_get(mock.port(), "/last-request"), nullptr, false);
    ASSERT_TRUE(body.is_object());
    if (takes_schema) {
      // The mock answers response_format json_schema with JSON of that shape: one call.
      ASSERT_TRUE(r.ok()) << r.error;
      EXPECT_EQ(body["response_format"]["type"], "json_schema");
      EXPECT_EQ(body["response_format"]["json_schema"]["schema"], person_schema);
      EXPECT_EQ(body["response_format"]["json_schema"]["name"], "a");
      EXPECT_TRUE(r.output["name"].is_string()) << r.output;
      EXPECT_TRUE(r.output["born"].is_number_integer()) << r.output;
      EXPECT_EQ(r.summary.model_calls, 1);
    } else {
      // The instruction; the mock answers prose all the same, sent back twice over HTTP.
      EXPECT_FALSE(body.contains("response_format"));
      ASSERT_EQ(body["messages"][0]["role"], "system");
      EXPECT_TRUE(has_text(body["messages"][0]["content"], "matching this JSON Schema")) << body["messages"];
      EXPECT_EQ(r.error_kind, "invalid_output") << r.error;
      EXPECT_EQ(r.summary.model_calls, 3);
      ASSERT_EQ(body["messages"].size(), 6u) << body["messages"];  // instruction, prompt, 2 x (answer, problems)
      EXPECT_TRUE(has_text(body["messages"][5]["content"], "does not match the required JSON Schema")) << body["messages"];
    }
  }
}

TEST(StructuredOutput, TheScenarioSaysWhatIsWrongWithTheSchema) {
  cohort::Runtime rt(test_options());
  auto doc = structured_scenario("{}", "{}");
  doc["agents"]["a"]["output_schema"] = {{"type", 12}};
  doc["agents"]["a"]["params"] = {{"response_format", {{"type", "json_object"}}}};
  auto problems = load_problems(rt, doc);
  EXPECT_TRUE(has_text(problems, "$.agents.a.output_schema: not a JSON Schema")) << problems;
  EXPECT_TRUE(has_text(problems, "$.agents.a.params.response_format")) << problems;
}
