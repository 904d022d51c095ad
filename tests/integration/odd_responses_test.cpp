// Responses that real servers and proxies do send, from a scripted HTTP server on
// 127.0.0.1 that answers each request with fixed bytes: none may end the process (a
// parse runs on an I/O thread), each ends the call with a clear result.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "models/http/sse_parser.hpp"
#include "tests/support/test_runtime.hpp"

using nlohmann::json;
namespace net = boost::asio;

namespace {

// Answers the i-th connection's request with responses[i] (the last one for any later),
// writes it whole, then closes the connection; until destroyed. Bounded: the accept
// loop ends when the server goes.
class closing_server {
 public:
  explicit closing_server(std::string response) : closing_server(std::vector<std::string>{std::move(response)}) {}
  explicit closing_server(std::vector<std::string> responses)
      : responses_(std::move(responses)), acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~closing_server() {
    stopping_ = true;
    boost::system::error_code ignored;
    net::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ignored);  // wakes the blocking accept
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1"; }

 private:
  void serve() {
    while (!stopping_) {
      net::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) return;
      net::streambuf buf;
      auto header_end = net::read_until(s, buf, "\r\n\r\n", ec);
      if (ec) continue;
      std::string head(net::buffers_begin(buf.data()), net::buffers_begin(buf.data()) + header_end);
      size_t length = 0;
      if (auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoul(head.substr(at + 16));
      if (buf.size() - header_end < length) net::read(s, buf, net::transfer_exactly(length - (buf.size() - header_end)), ec);
      net::write(s, net::buffer(responses_[std::min(served_++, responses_.size() - 1)]), ec);
      s.shutdown(net::ip::tcp::socket::shutdown_both, ec);
    }
  }

  std::vector<std::string> responses_;
  size_t served_ = 0;
  net::io_context io_;
  net::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::string http(int status, const std::string& content_type, const std::string& body, bool length = true) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type + "\r\nConnection: close\r\n";
  if (length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

cohort::RunResult run_once(const std::string& base_url, bool stream, int* tokens = nullptr,
                           const cohort::EventHandler& on_event = nullptr, json retry = nullptr) {
  cohort::Runtime rt(cohort::testing::test_options(20000));
  json step{{"agent", "a"}};
  if (!retry.is_null()) {  // a retry is its parent's to run: the step goes in a pipeline
    step["retry"] = std::move(retry);
    step = {{"type", "pipeline"}, {"steps", {step}}};
  }
  auto sc = rt.load(json{{"models", {{"m", {{"provider", "openai"}, {"base_url", base_url}, {"stream", stream}}}}},
                         {"agents", {{"a", {{"model", "m"}, {"prompt", "hello"}}}}},
                         {"workflow", step}});
  return rt.run(sc, std::nullopt, [tokens, on_event](const cohort::Event& e) {
    if (tokens && e.kind == "token") ++*tokens;
    if (on_event) on_event(e);
  });
}

std::string sse_piece(const std::string& text, bool last = false) {
  return "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"" + text + "\"}" +
         (last ? ", \"finish_reason\": \"stop\"" : "") + "}]}\n\n";
}

const std::string answer_doc =
    R"({"choices": [{"index": 0, "message": {"role": "assistant", "content": "plain answer"}, "finish_reason": "stop"}]})";

}  // namespace

TEST(OddResponses, ErrorPageThatIsNotUtf8IsReportedAndPrintable) {
  std::string page(290, 'x');
  page += "\xff\xfe caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xe6\xbc\xa2\xe5\xad\x97 and more";  // a bad byte, then a character cut at 300
  closing_server server(http(500, "text/html; charset=latin1", page));
  auto r = run_once(server.base_url(), false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error_kind, "server_error") << r.error;
  EXPECT_NE(r.error.find("HTTP 500"), std::string::npos) << r.error;
  EXPECT_NO_THROW(r.to_json().dump()) << "the error text must be valid UTF-8";
}

TEST(OddResponses, UsageWithNullCountsAndToolCallWithoutName) {
  {
    closing_server server(http(200, "application/json",
                                R"({"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": null, "completion_tokens": 4}})"));
    auto r = run_once(server.base_url(), false);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.output, "ok");
    EXPECT_EQ(r.summary.completion_tokens, 4);
  }
  {
    closing_server server(http(200, "application/json",
                                R"({"choices": [{"message": {"content": null, "tool_calls": [{"id": "c", "function": {"name": null, "arguments": "{}"}}]}}]})"));
    auto r = run_once(server.base_url(), false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error_kind, "unsupported_response") << r.error;
  }
}

TEST(OddResponses, StreamRequestAnsweredWithPlainJson) {
  closing_server server(http(200, "application/json", answer_doc));
  int tokens = 0;
  auto r = run_once(server.base_url(), true, &tokens);
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, "plain answer");
  EXPECT_EQ(tokens, 1) << "the whole answer is its one piece";
}

TEST(OddResponses, StreamWhoseLastEventHasNoClosingBlankLine) {
  std::string events =
      "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"stre\"}}]}\n\n"
      // The last piece and the finish in an event the body ends inside (Connection: close,
      // no length), without [DONE]: as some proxies cut it.
      "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"amed\"}, \"finish_reason\": \"stop\"}]}";
  closing_server server(http(200, "text/event-stream", events, false));
  int tokens = 0;
  auto r = run_once(server.base_url(), true, &tokens);
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, "streamed");
  EXPECT_EQ(tokens, 2);
}

// An error event's kind follows its code: a request the model refuses is the request's
// fault (http_status: not tried elsewhere, not held against the endpoint); an overloaded
// server stays server_error.
TEST(OddResponses, ErrorEventInAStreamIsKindedByItsCode) {
  auto stream_failing_with = [](const std::string& error) {
    return http(200, "text/event-stream",
                "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"par\"}}]}\n\n"
                "data: {\"error\": " + error + "}\n\n", false);
  };
  {
    closing_server server(stream_failing_with(
        R"({"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"})"));
    auto r = run_once(server.base_url(), true);
    EXPECT_EQ(r.error_kind, "http_status") << r.error;
    EXPECT_NE(r.error.find("context_length_exceeded"), std::string::npos) << r.error;
  }
  {
    closing_server server(stream_failing_with(R"({"message": "overloaded", "type": "server_error"})"));
    EXPECT_EQ(run_once(server.base_url(), true).error_kind, "server_error");
  }
}

// A stream cut off part way (the connection drops inside a chunk) and tried again: the
// listener is told the first try's pieces do not count, before the second try's arrive,
// which add up to the output.
TEST(OddResponses, StreamCutOffThenRetriedResetsItsPieces) {
  auto chunk = [](const std::string& data) {
    std::ostringstream hex;
    hex << std::hex << data.size();
    return hex.str() + "\r\n" + data + "\r\n";
  };
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string cut_off = head + chunk(sse_piece("half an ")) + "40\r\ndata: {\"cho";  // then the connection closes
  std::string whole = head + chunk(sse_piece("a whole ")) + chunk(sse_piece("answer", true)) + chunk("data: [DONE]\n\n") + "0\r\n\r\n";
  closing_server server(std::vector<std::string>{cut_off, whole});
  std::vector<std::pair<std::string, std::string>> seen;  // (kind, text) of token and token_reset events
  std::mutex m;
  auto r = run_once(server.base_url(), true, nullptr, [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    if (e.kind == "token" || e.kind == "token_reset") seen.emplace_back(e.kind, e.message);
  }, {{"max_attempts", 2}, {"backoff_ms", 1}});
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, "a whole answer");
  std::lock_guard<std::mutex> lock(m);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"token", "half an "}));
  EXPECT_EQ(seen[1].first, "token_reset");
  EXPECT_EQ(seen[2], (std::pair<std::string, std::string>{"token", "a whole "}));
  EXPECT_EQ(seen[3], (std::pair<std::string, std::string>{"token", "answer"}));
}

TEST(SseParser, FinishFlushesAnEventCutOffByTheEnd) {
  cohort::sse_parser p;
  std::vector<std::string> got;
  auto on_event = [&](const std::string& d) { got.push_back(d); };
  p.feed("data: one\n\ndata: two", on_event);
  EXPECT_EQ(got, std::vector<std::string>{"one"});
  p.finish(on_event);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}
