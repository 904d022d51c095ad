// The OpenAI chat-completions wire format on its own: what a whole answer and a
// streamed chunk are read as, and the request body cohort writes.
#include <string>

#include <gtest/gtest.h>

#include "messages/model_call.hpp"
#include "models/chat_completions.hpp"
#include "spec/scenario.hpp"

using cohort::chat_answer;
using cohort::chat_chunk;
using nlohmann::json;

TEST(ChatCompletions, ReadsTextAndUsage) {
  auto a = cohort::read_chat_answer(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"caf\u00e9 \"quoted\""}}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens":3}})");
  ASSERT_EQ(a.what, chat_answer::form::text);
  EXPECT_EQ(a.text, "caf\xC3\xA9 \"quoted\"");
  ASSERT_TRUE(a.usage);
  EXPECT_EQ(a.usage->prompt, 12);
  EXPECT_EQ(a.usage->completion, 3);
}

TEST(ChatCompletions, UsageCountsOnlyWhenTheyAreIntegers) {
  auto text = [](const std::string& usage) {
    return R"({"choices":[{"message":{"content":"x"}}],"usage":)" + usage + "}";
  };
  EXPECT_FALSE(cohort::read_chat_answer(text(R"({"prompt_tokens":1,"completion_tokens":null})")).usage);
  EXPECT_FALSE(cohort::read_chat_answer(text(R"({"prompt_tokens":1,"completion_tokens":2.5})")).usage);
  EXPECT_FALSE(cohort::read_chat_answer(text("\"none\"")).usage);
  auto no_prompt = cohort::read_chat_answer(text(R"({"prompt_tokens":null,"completion_tokens":7})"));
  ASSERT_TRUE(no_prompt.usage);
  EXPECT_EQ(no_prompt.usage->prompt, 0);
  EXPECT_EQ(no_prompt.usage->completion, 7);
  auto huge = cohort::read_chat_answer(text(R"({"completion_tokens":18446744073709551615})"));
  ASSERT_TRUE(huge.usage);
  EXPECT_GT(huge.usage->completion, 0);  // clamped, not wrapped to a negative count
}

TEST(ChatCompletions, ToolCallsNotJsonAndMissingContent) {
  auto tools = cohort::read_chat_answer(
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","function":{"name":"get_weather",)"
      R"("arguments":"{\"city\":\"Oslo\"}"}},{"function":{"name":null}},)"
      R"({"id":"c3","function":{"name":"lookup","arguments":{"q":1}}}]}}]})");
  ASSERT_EQ(tools.what, chat_answer::form::tool_calls);
  ASSERT_EQ(tools.tool_calls.size(), 3u);
  auto calls = cohort::tool_calls_json(tools.tool_calls);
  EXPECT_EQ(calls[0], json::parse(R"({"id":"c1","type":"function","function":{"name":"get_weather",)"
                                  R"("arguments":"{\"city\":\"Oslo\"}"}})"));
  EXPECT_EQ(calls[1]["function"]["name"], "");  // unnamed: the loop answers it as an unknown tool
  EXPECT_EQ(calls[2]["function"]["arguments"], R"({"q":1})");  // an object is written back as text
  EXPECT_EQ(cohort::read_chat_answer("<html>502</html>").what, chat_answer::form::not_json);
  EXPECT_EQ(cohort::read_chat_answer("{\"choices\":[{\"message\":{\"content\":\"x\"}}]").what,
            chat_answer::form::not_json);  // cut off
  EXPECT_EQ(cohort::read_chat_answer(R"({"choices":[]})").what, chat_answer::form::no_content);
  EXPECT_EQ(cohort::read_chat_answer(R"({"choices":[{"message":{"content":5}}]})").what,
            chat_answer::form::no_content);
  EXPECT_EQ(cohort::read_chat_answer("[1,2]").what, chat_answer::form::no_content);
}

TEST(ChatCompletions, DeepButValidAnswerIsRead) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  auto a = cohort::read_chat_answer(R"({"extra":)" + deep + R"(,"choices":[{"message":{"content":"ok"}}]})");
  ASSERT_EQ(a.what, chat_answer::form::text);
  EXPECT_EQ(a.text, "ok");
}

TEST(ChatCompletions, StreamedChunks) {
  auto piece = cohort::read_chat_chunk(R"({"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]})");
  EXPECT_EQ(piece.what, chat_chunk::form::data);
  EXPECT_EQ(piece.piece, "Hel");
  EXPECT_FALSE(piece.finished);
  auto last = cohort::read_chat_chunk(
      R"({"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2}})");
  EXPECT_TRUE(last.finished);
  EXPECT_TRUE(last.piece.empty());
  ASSERT_TRUE(last.usage);
  EXPECT_EQ(last.usage->completion, 2);
  auto tool = cohort::read_chat_chunk(R"({"choices":[{"delta":{"tool_calls":[{"function":{"name":"f"}}]}}]})");
  ASSERT_EQ(tool.tool_calls.size(), 1u);
  EXPECT_EQ(tool.tool_calls[0].name, "f");
  EXPECT_EQ(cohort::read_chat_chunk("{not json").what, chat_chunk::form::unreadable);
  EXPECT_EQ(cohort::read_chat_chunk("[]").what, chat_chunk::form::unreadable);
}

TEST(ChatCompletions, StreamedToolCallPiecesJoinByIndex) {
  std::vector<cohort::tool_call_piece> calls;
  for (const char* data :
       {R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"search","arguments":"{\"q\":"}}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"calc","arguments":""}}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"tides\"}"}}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"name":"calc","arguments":"{}"}}]}}]})"})
    for (auto& piece : cohort::read_chat_chunk(data).tool_calls) cohort::add_tool_call_piece(calls, std::move(piece));
  auto list = cohort::tool_calls_json(calls);
  ASSERT_EQ(list.size(), 2u) << list.dump();
  EXPECT_EQ(list[0]["id"], "a");
  EXPECT_EQ(list[0]["function"]["arguments"], R"({"q":"tides"})");
  EXPECT_EQ(list[1]["function"]["name"], "calc");  // a repeated name is not appended
  EXPECT_EQ(list[1]["function"]["arguments"], "{}");
}

TEST(ChatCompletions, ErrorEventsAreKindedByCodeAndType) {
  auto kind = [](const std::string& error) {
    auto c = cohort::read_chat_chunk(R"({"error":)" + error + "}");
    EXPECT_EQ(c.what, chat_chunk::form::error);
    return c.error_kind;
  };
  EXPECT_EQ(kind(R"({"code":"context_length_exceeded","message":"too long"})"), "http_status");
  EXPECT_EQ(kind(R"({"type":"invalid_request_error"})"), "http_status");
  EXPECT_EQ(kind(R"({"code":"rate_limit_exceeded"})"), "rate_limited");
  EXPECT_EQ(kind(R"({"type":"server_error"})"), "server_error");
  EXPECT_EQ(kind(R"("overloaded")"), "server_error");
}

TEST(ChatCompletions, RequestBodyCarriesParamsModelMessagesAndStream) {
  cohort::model_def m;
  m.model = "llama3";
  m.params = {{"temperature", 0.2}, {"messages", "from params: ignored"}};
  m.stream = true;
  cohort::model_request req;
  req.messages = json::array({{{"role", "user"}, {"content", "hi \xFF"}}});  // invalid UTF-8 is replaced
  req.params = {{"temperature", 0.7}, {"seed", 3}};
  auto body = json::parse(cohort::chat_request_body(m, req));
  EXPECT_EQ(body["model"], "llama3");
  EXPECT_EQ(body["temperature"], 0.7);  // the call's params over the model's
  EXPECT_EQ(body["seed"], 3);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], json({{"include_usage", true}}));
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["content"], "hi \xEF\xBF\xBD");
  m.stream = false;
  m.params = json::object();
  req.params = nullptr;
  body = json::parse(cohort::chat_request_body(m, req));
  EXPECT_EQ(body["stream"], false);
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_EQ(body.size(), 3u);
}
