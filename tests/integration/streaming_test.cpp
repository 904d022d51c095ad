// Streaming (SSE) against a real `cohort mock-llm` process: the same scenario with and
// without "stream" answers the same text with the same usage, the text pieces arrive as
// token events before each agent's finished event, and cancelling closes the stream's
// connection. The SSE parser also gets events cut at every byte.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "models/http/sse_parser.hpp"
#include "tests/support/process.hpp"

using cohort::testing::mock_llm_process;
using cohort::testing::wait_stats;
using nlohmann::json;

namespace {

json streaming_scenario(const std::string& base_url, bool stream) {
  return {{"name", "streaming"},
          {"models", {{"m", {{"provider", "openai"}, {"base_url", base_url}, {"stream", stream}}}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "Describe {{item}} in a few words."}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
          {"input", {{"xs", {"rivers", "mountains", "deserts"}}}}};
}

struct recorded {
  std::mutex m;
  std::map<std::string, std::string> text;      // path -> the token pieces joined
  std::map<std::string, int> tokens;            // path -> token events
  std::map<std::string, int> tokens_at_finish;  // path -> token events seen when it finished
  void operator()(const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    if (e.kind == "token") {
      text[e.path] += e.message;
      ++tokens[e.path];
    } else if (e.kind == "finished" && e.leaf) {
      tokens_at_finish[e.path] = tokens[e.path];
    }
  }
};

}  // namespace

TEST(Streaming, SameTextAndUsageAsWithoutAndTokenEventsComeFirst) {
  mock_llm_process mock({"--latency-ms", "60"});
  cohort::Runtime rt;
  auto plain = rt.run(rt.load(streaming_scenario(mock.base_url(), false)));
  ASSERT_TRUE(plain.ok()) << plain.error;

  recorded events;
  auto streamed = rt.run(rt.load(streaming_scenario(mock.base_url(), true)), std::nullopt, std::ref(events));
  ASSERT_TRUE(streamed.ok()) << streamed.error_kind << ": " << streamed.error;
  EXPECT_EQ(streamed.output, plain.output);
  EXPECT_EQ(streamed.summary.prompt_tokens, plain.summary.prompt_tokens);
  EXPECT_EQ(streamed.summary.completion_tokens, plain.summary.completion_tokens);

  std::lock_guard<std::mutex> lock(events.m);
  ASSERT_EQ(events.tokens_at_finish.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& answer = streamed.output[i].get<std::string>();
    std::string path;
    for (auto& [p, t] : events.text)
      if (t == answer) path = p;
    ASSERT_FALSE(path.empty()) << "no agent's token events add up to \"" << answer << "\"";
    EXPECT_GT(events.tokens[path], 1) << path;
    EXPECT_EQ(events.tokens_at_finish[path], events.tokens[path]) << path << ": token events after finished";
  }
}

TEST(Streaming, WithoutAListenerTheAnswerIsTheSame) {
  mock_llm_process mock;
  cohort::Runtime rt;
  auto plain = rt.run(rt.load(streaming_scenario(mock.base_url(), false)));
  auto streamed = rt.run(rt.load(streaming_scenario(mock.base_url(), true)));
  ASSERT_TRUE(streamed.ok()) << streamed.error;
  EXPECT_EQ(streamed.output, plain.output);
}

TEST(Streaming, CancellingClosesTheStreamingConnection) {
  mock_llm_process mock({"--latency-ms", "3000"});
  cohort::Runtime rt;
  auto doc = streaming_scenario(mock.base_url(), true);
  doc["input"]["xs"] = {"one long answer"};
  std::mutex m;
  std::condition_variable cv;
  int tokens = 0;
  auto run = rt.start(rt.load(doc), std::nullopt, [&](const cohort::Event& e) {
    if (e.kind != "token") return;
    std::lock_guard<std::mutex> lock(m);
    ++tokens;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return tokens >= 2; }))
        << "no token events while the stream was under way";
  }
  run.cancel("test");
  auto r = run.wait_for(std::chrono::seconds(5));
  ASSERT_TRUE(r.has_value()) << "the cancelled run did not end";
  EXPECT_EQ(r->status, "cancelled");
  auto s = wait_stats(mock.port(), [](const json& s) { return s["client_cancellations"] == 1 && s["open_connections"] == 0; });
  EXPECT_EQ(s["client_cancellations"], 1) << s.dump();
  EXPECT_EQ(s["open_connections"], 0) << s.dump();
  EXPECT_EQ(s["completed"], 0) << s.dump();
}

TEST(SseParser, EventsCutAnywhere) {
  const std::string text =
      ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\nid: 7\ndata: line one\ndata:line two\n\n"
      "data: [DONE]\r\rdata: no end yet";
  const std::vector<std::string> expected{"{\"a\":1}", "line one\nline two", "[DONE]"};
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    for (size_t step : {size_t{1}, size_t{3}, text.size()}) {
      cohort::sse_parser p;
      std::vector<std::string> got;
      auto on_event = [&](const std::string& d) { got.push_back(d); };
      p.feed(std::string_view(text).substr(0, cut), on_event);
      for (size_t i = cut; i < text.size(); i += step) p.feed(std::string_view(text).substr(i, step), on_event);
      ASSERT_EQ(got, expected) << "cut at " << cut << ", step " << step;
    }
  }
}
