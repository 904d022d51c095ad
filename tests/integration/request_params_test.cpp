// Request options reach the server as given, against a real `cohort mock-llm` process
// (its GET /last-request): the model's `params`, overridden and extended by the agent's,
// land in the body next to what cohort sets itself; `tools` pass through untouched; a
// tool-call answer (content null) to an agent without "tools" is a clear error,
// streamed or not, and not retried.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"

using cohort::testing::http_get;
using cohort::testing::mock_llm_process;
using nlohmann::json;

namespace {

const json lookup_tools = json::parse(R"([
  {"type": "function",
   "function": {"name": "lookup_population",
                "description": "Population of a city",
                "parameters": {"type": "object",
                               "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}}
])");

json scenario(const std::string& base_url, const json& agent_params, bool stream = false) {
  return {{"name", "request-params"},
          {"models", {{"m", {{"provider", "openai"},
                             {"base_url", base_url},
                             {"model", "served-name"},
                             {"stream", stream},
                             {"params", {{"temperature", 0.25},
                                         {"max_tokens", 77},
                                         {"stop", {"###", "\n\n"}},
                                         {"seed", 1234},
                                         {"response_format", {{"type", "json_object"}}}}}}}}},
          {"agents", {{"a", {{"model", "m"},
                             {"system", "Answer in JSON."},
                             {"prompt", "Population of {{input.city}}?"},
                             {"params", agent_params}}}}},
          {"workflow", {{"agent", "a"}, {"retry", {{"max_attempts", 3}, {"backoff_ms", 1}}}}},
          {"input", {{"city", "Bergen"}}}};
}

json last_request(int port) { return json::parse(http_get(port, "/last-request"), nullptr, false); }

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (auto& [k, v] : j.items()) out.insert(k);
  return out;
}

}  // namespace

TEST(RequestParams, ModelAndAgentParamsReachTheBody) {
  mock_llm_process mock;
  auto none = last_request(mock.port());
  ASSERT_TRUE(none.is_object()) << "GET /last-request did not answer JSON";
  EXPECT_EQ(none["error"]["code"], "no_request_yet");

  cohort::Runtime rt;
  auto r = rt.run(rt.load(scenario(mock.base_url(), {{"temperature", 0.9}, {"seed", 7}, {"tools", lookup_tools}})));
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  auto body = last_request(mock.port());
  ASSERT_TRUE(body.is_object()) << body.dump();
  EXPECT_EQ(body["temperature"], 0.9);  // the agent's win
  EXPECT_EQ(body["seed"], 7);
  EXPECT_EQ(body["max_tokens"], 77);    // the model's stay
  EXPECT_EQ(body["stop"], json({"###", "\n\n"}));
  EXPECT_EQ(body["response_format"], json({{"type", "json_object"}}));
  EXPECT_EQ(body["tools"], lookup_tools);  // untouched
  EXPECT_EQ(body["model"], "served-name");
  EXPECT_EQ(body["stream"], false);
  EXPECT_EQ(body["messages"], json::parse(R"([{"role": "system", "content": "Answer in JSON."},
                                               {"role": "user", "content": "Population of Bergen?"}])"));
  EXPECT_EQ(keys(body), (std::set<std::string>{"max_tokens", "messages", "model", "response_format", "seed", "stop",
                                               "stream", "temperature", "tools"}));

  // Streamed: the same options, plus stream and the request for usage in the last chunk.
  ASSERT_TRUE(rt.run(rt.load(scenario(mock.base_url(), json::object(), true))).ok());
  body = last_request(mock.port());
  EXPECT_EQ(body["temperature"], 0.25);
  EXPECT_EQ(body["seed"], 1234);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], json({{"include_usage", true}}));
  EXPECT_FALSE(body.contains("tools"));
}

TEST(RequestParams, ToolCallAnswerIsAClearErrorAndNotRetried) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "not streamed");
    mock_llm_process mock({"--tool-calls"});
    cohort::Runtime rt;
    auto r = rt.run(rt.load(scenario(mock.base_url(), {{"tools", lookup_tools}}, stream)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error_kind, "unsupported_response") << r.error;
    EXPECT_NE(r.error.find("the model answered with tool calls (lookup_population)"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("agent a declares no \"tools\""), std::string::npos) << r.error;
    auto s = cohort::testing::mock_stats(mock.port());
    EXPECT_EQ(s["requests"], 1) << s.dump();
    EXPECT_EQ(r.summary.retries, 0);
  }
}
