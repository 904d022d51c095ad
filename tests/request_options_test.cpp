// Request options reach the server as given, against a real `cohort mock-llm` process:
// the model's `params`, overridden and extended by the agent's, land in the request
// body next to model/messages/stream; and a tool-call answer is a clear error.
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"

using cohort::testing::http_get;
using cohort::testing::mock_llm_process;
using nlohmann::json;

namespace {

const json weather_tools = json::parse(R"([
  {"type": "function",
   "function": {"name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {"type": "object",
                               "properties": {"city": {"type": "string"},
                                              "unit": {"type": "string", "enum": ["c", "f"]}},
                               "required": ["city"]}}}
])");

json scenario(const std::string& base_url, const json& agent_params) {
  return {{"name", "request-options"},
          {"models", {{"m", {{"provider", "openai"},
                             {"base_url", base_url},
                             {"model", "served-name-7b"},
                             {"params", {{"temperature", 0.2},
                                         {"max_tokens", 64},
                                         {"stop", {"END", "\n\n"}},
                                         {"seed", 42},
                                         {"response_format", {{"type", "json_object"}}}}}}}}},
          {"agents", {{"a", {{"model", "m"},
                             {"system", "You answer in JSON."},
                             {"prompt", "Weather in {{input.city}}?"},
                             {"params", agent_params}}}}},
          {"workflow", {{"agent", "a"}}},
          {"input", {{"city", "Oslo"}}}};
}

json last_request(int port) { return json::parse(http_get(port, "/last-request"), nullptr, false); }

}  // namespace

TEST(RequestOptions, ModelAndAgentParamsArriveInTheRequestBody) {
  mock_llm_process mock;
  // Before any chat request: a 404-style OpenAI error document.
  auto none = last_request(mock.port());
  ASSERT_FALSE(none.is_discarded());
  ASSERT_TRUE(none.contains("error")) << none.dump();
  EXPECT_EQ(none["error"]["code"], "no_request_yet");

  cohort::Runtime rt;
  auto sc = rt.load(scenario(mock.base_url(), {{"temperature", 0.9}, {"tools", weather_tools}}));
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;

  auto body = last_request(mock.port());
  ASSERT_FALSE(body.is_discarded()) << "GET /last-request did not answer JSON";
  ASSERT_TRUE(body.is_object()) << body.dump();
  // The agent overrides the model...
  EXPECT_EQ(body["temperature"], 0.9) << body.dump();
  // ...and the model's other options stay.
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["stop"], json({"END", "\n\n"}));
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["response_format"], json({{"type", "json_object"}}));
  // tools pass through untouched.
  EXPECT_EQ(body["tools"], weather_tools);
  // What cohort sets itself.
  EXPECT_EQ(body["model"], "served-name-7b");
  EXPECT_EQ(body["stream"], false);
  ASSERT_TRUE(body["messages"].is_array());
  ASSERT_EQ(body["messages"].size(), 2u) << body["messages"].dump();
  EXPECT_EQ(body["messages"][0], json({{"role", "system"}, {"content", "You answer in JSON."}}));
  EXPECT_EQ(body["messages"][1], json({{"role", "user"}, {"content", "Weather in Oslo?"}}));
  // Nothing else slipped in.
  std::set<std::string> keys;
  for (auto& [k, v] : body.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"max_tokens", "messages", "model", "response_format", "seed", "stop",
                                         "stream", "temperature", "tools"}));

  // The last request is the latest one: without agent params only the model's remain.
  auto plain = rt.load(scenario(mock.base_url(), json::object()));
  ASSERT_TRUE(rt.run(plain).ok());
  body = last_request(mock.port());
  EXPECT_EQ(body["temperature"], 0.2) << body.dump();
  EXPECT_FALSE(body.contains("tools")) << body.dump();
}

// A model given tools may answer with tool calls and `content: null`. Cohort does not
// run them yet: the call fails with a message that says so, it is not retried or failed
// over, and nothing crashes.
TEST(RequestOptions, ToolCallAnswerIsAClearUnsupportedError) {
  mock_llm_process mock({"--tool-calls"});
  cohort::Runtime rt;
  auto doc = scenario(mock.base_url(), {{"tools", weather_tools}});
  doc["workflow"] = {{"agent", "a"}, {"retry", {{"max_attempts", 3}, {"backoff_ms", 1}}}};
  auto sc = rt.load(doc);
  auto r = rt.run(sc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "unsupported_response") << r.error;
  EXPECT_NE(r.error.find("the model answered with tool calls (get_weather)"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("cohort does not run yet"), std::string::npos) << r.error;
  auto s = cohort::testing::mock_stats(mock.port());
  EXPECT_EQ(s["requests"], 1) << "a tool-call answer must not be retried: " << s.dump();

  // The runtime is still usable afterwards: a plain server answers normally.
  mock_llm_process plain_mock;
  auto ok = rt.run(rt.load(scenario(plain_mock.base_url(), json::object())));
  EXPECT_TRUE(ok.ok()) << ok.error;
}
