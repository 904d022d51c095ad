// The mock LLM server started in-process on 127.0.0.1 and driven over real
// sockets by a small blocking Beast client. Every wait has a deadline.
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_llm/mock_llm_server.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;
using cohort::mock_llm_options;
using cohort::mock_llm_server;
using error_code = boost::system::error_code;
using nlohmann::json;
using response = http::response<http::string_body>;
using headers = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection with blocking calls. Each call runs one asynchronous
// Beast operation to completion, because tcp_stream deadlines bound only
// asynchronous operations; on a timeout the stream closes the socket.
class test_client {
 public:
  explicit test_client(uint16_t port) : stream_(io_) {
    asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
    auto ec = run(5s, [&](auto done) { stream_.async_connect(server, std::move(done)); });
    if (ec) throw boost::system::system_error(ec, "connecting to the mock server");
  }

  void send(http::verb verb, const std::string& target, const std::string& body = "", const headers& extra = {},
            bool keep_alive = true) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : extra) req.set(name, value);
    req.keep_alive(keep_alive);
    req.body() = body;
    req.prepare_payload();
    auto ec = run(5s, [&](auto done) { http::async_write(stream_, req, std::move(done)); });
    if (ec) throw boost::system::system_error(ec, "sending " + target);
  }

  // One response, or `ec` set (then the response is empty).
  response receive(error_code& ec, std::chrono::milliseconds timeout = 5000ms) {
    response res;
    ec = run(timeout, [&](auto done) { http::async_read(stream_, buffer_, res, std::move(done)); });
    return res;
  }

  response request(http::verb verb, const std::string& target, const std::string& body = "",
                   const headers& extra = {}, bool keep_alive = true) {
    send(verb, target, body, extra, keep_alive);
    error_code ec;
    auto res = receive(ec);
    if (ec) throw boost::system::system_error(ec, "reading the response to " + target);
    return res;
  }

  response chat(const json& body, const headers& extra = {}) {
    return request(http::verb::post, "/v1/chat/completions", body.dump(), extra);
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  // Starts one operation with `start(handler)` and runs the io_context until it
  // completes; the stream's deadline guarantees that it does.
  template <class Start>
  error_code run(std::chrono::milliseconds timeout, Start start) {
    error_code result;
    stream_.expires_after(timeout);
    start([&result](error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

json chat_body(const std::string& prompt, bool stream = false) {
  return {{"model", "mock-1"},
          {"messages", json::array({{{"role", "system"}, {"content", "You are terse."}},
                                    {{"role", "user"}, {"content", prompt}}})},
          {"stream", stream}};
}

// A chat request on a fresh connection.
response chat_once(uint16_t port, const json& body, const headers& extra = {}) {
  test_client c(port);
  return c.chat(body, extra);
}

json get_stats(uint16_t port) {
  test_client c(port);
  return json::parse(c.request(http::verb::get, "/stats", "", {}, false).body());
}

// Polls until `pred` holds or `limit` passes; returns the last stats seen.
json wait_for_stats(const std::function<json()>& fetch, const std::function<bool(const json&)>& pred,
                    std::chrono::milliseconds limit = 2000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  json s = fetch();
  while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    s = fetch();
  }
  return s;
}

std::string content_of(const response& res) {
  return json::parse(res.body())["choices"][0]["message"]["content"].get<std::string>();
}

std::string error_message(const response& res) {
  auto doc = json::parse(res.body(), nullptr, false);
  if (doc.is_discarded() || !doc.contains("error")) return "<no OpenAI error body: " + res.body() + ">";
  return doc["error"]["message"].get<std::string>();
}

bool is_closed_without_response(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset;
}

// A started server, stopped at the end of the test (the destructor too, should an
// assertion return early).
struct running_server {
  explicit running_server(mock_llm_options options = {}) : server(std::move(options)), port(server.start()) {}
  json stats() const { return server.stats(); }
  mock_llm_server server;
  uint16_t port;
};

mock_llm_options with_latency(int ms) {
  mock_llm_options o;
  o.latency_min_ms = o.latency_max_ms = ms;
  return o;
}

}  // namespace

TEST(MockLlmServer, CompletionIsDeterministicWithUsage) {
  running_server s;
  ASSERT_NE(s.port, 0);
  auto first = chat_once(s.port, chat_body("List three actor frameworks."));
  auto second = chat_once(s.port, chat_body("List three actor frameworks."));
  ASSERT_EQ(first.result_int(), 200) << first.body();
  EXPECT_EQ(first[http::field::content_type], "application/json");
  auto doc = json::parse(first.body());
  EXPECT_EQ(doc["object"], "chat.completion");
  EXPECT_EQ(doc["model"], "mock-1");
  EXPECT_TRUE(doc["id"].is_string());
  EXPECT_TRUE(doc["created"].is_number_integer());
  EXPECT_EQ(doc["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
  auto content = content_of(first);
  EXPECT_FALSE(content.empty());
  EXPECT_EQ(content_of(second), content) << "the same request must give the same content";
  auto usage = doc["usage"];
  ASSERT_TRUE(usage.is_object()) << doc.dump();
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(usage["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(usage["total_tokens"].get<int>(),
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
  auto st = s.stats();
  EXPECT_EQ(st["requests"], 2);
  EXPECT_EQ(st["completed"], 2);
  EXPECT_EQ(st["in_flight"], 0);
  s.server.stop();
}

TEST(MockLlmServer, StreamingDeltasConcatenateToTheCompletion) {
  running_server s(with_latency(40));
  auto expected = content_of(chat_once(s.port, chat_body("Explain actors in a few words.")));

  test_client c(s.port);
  auto started = std::chrono::steady_clock::now();
  auto res = c.chat(chat_body("Explain actors in a few words.", true));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 40ms) << "the deltas are spread over the latency";
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");

  std::vector<std::string> payloads;
  std::string body = res.body();
  for (std::size_t pos = 0; pos < body.size();) {
    auto end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    auto line = body.substr(pos, end - pos);
    if (line.rfind("data: ", 0) == 0) payloads.push_back(line.substr(6));
    pos = end + 1;
  }
  ASSERT_GE(payloads.size(), 3u) << body;
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string joined;
  std::string finish;
  for (std::size_t i = 0; i + 1 < payloads.size(); ++i) {
    auto chunk = json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "mock-1");
    auto& choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) joined += choice["delta"]["content"].get<std::string>();
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(joined, expected);
  EXPECT_EQ(finish, "stop");

  // Chunked encoding keeps the connection usable.
  EXPECT_EQ(content_of(c.chat(chat_body("Explain actors in a few words."))), expected);
  auto st = s.stats();
  EXPECT_EQ(st["completed"], 3);
  EXPECT_EQ(st["connections_total"], 2);
  s.server.stop();
}

TEST(MockLlmServer, ModelsStatsAndUnknownPath) {
  running_server s;
  test_client c(s.port);
  auto models = c.request(http::verb::get, "/v1/models");
  ASSERT_EQ(models.result_int(), 200);
  EXPECT_EQ(json::parse(models.body()),
            json::parse(R"({"object":"list","data":[{"id":"mock","object":"model","owned_by":"cohort"}]})"));

  auto missing = c.request(http::verb::get, "/v2/nothing");
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_NE(error_message(missing).find("/v2/nothing"), std::string::npos) << missing.body();

  // /stats leaves out the connection asking; /v1/models and /stats are not requests.
  auto st = json::parse(c.request(http::verb::get, "/stats").body());
  EXPECT_EQ(st["requests"], 0);
  EXPECT_EQ(st["open_connections"], 0);
  EXPECT_EQ(st["connections_total"], 1);
  for (auto key : {"completed", "client_cancellations", "in_flight"}) EXPECT_EQ(st[key], 0) << key;
  for (auto key : {"429", "500", "malformed", "hang", "drop"}) EXPECT_EQ(st["faults"][key], 0) << key;
  EXPECT_EQ(s.stats()["open_connections"], 1) << "in-process stats count every connection";
  s.server.stop();
}

TEST(MockLlmServer, InvalidRequestsGet400NamingTheProblem) {
  running_server s;
  test_client c(s.port);
  auto expect_400 = [&](const response& res, const std::string& needle) {
    EXPECT_EQ(res.result_int(), 400) << res.body();
    auto doc = json::parse(res.body(), nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << res.body();
    EXPECT_EQ(doc["error"]["type"], "invalid_request_error");
    EXPECT_NE(error_message(res).find(needle), std::string::npos) << res.body();
  };
  expect_400(c.request(http::verb::post, "/v1/chat/completions", "{not json"), "not valid JSON");
  // 100,000-deep arrays in a message's content: refused before anything walks them.
  auto deep = std::string(R"({"model": "mock-1", "messages": [{"role": "user", "content": )") +
              std::string(100000, '[') + std::string(100000, ']') + "}]}";
  expect_400(c.request(http::verb::post, "/v1/chat/completions", deep), "nested deeper than 256");
  expect_400(c.chat({{"model", "mock-1"}}), "messages");
  expect_400(c.chat({{"model", "mock-1"}, {"messages", "hello"}}), "messages");
  expect_400(c.chat(chat_body("hi"), {{"X-Mock-Fault", "teapot"}}), "teapot");
  auto body = chat_body("hi");
  body["mock_fault"] = "kettle";
  expect_400(c.chat(body), "kettle");
  auto st = s.stats();
  EXPECT_EQ(st["requests"], 6);
  EXPECT_EQ(st["completed"], 0);
  EXPECT_EQ(st["in_flight"], 0);
  s.server.stop();
}

TEST(MockLlmServer, EachFaultViaHeaderAndBodyField) {
  mock_llm_options options;
  options.retry_after_s = 7;
  running_server s(options);
  for (bool via_header : {true, false}) {
    auto ask = [&](const std::string& fault, error_code& ec) {
      auto body = chat_body("fault " + fault);
      headers extra;
      if (via_header)
        extra.emplace_back("X-Mock-Fault", fault);
      else
        body["mock_fault"] = fault;
      test_client c(s.port);
      c.send(http::verb::post, "/v1/chat/completions", body.dump(), extra);
      return c.receive(ec);
    };
    SCOPED_TRACE(via_header ? "X-Mock-Fault header" : "mock_fault field");
    error_code ec;

    auto limited = ask("429", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(limited.result_int(), 429);
    EXPECT_EQ(limited[http::field::retry_after], "7");
    EXPECT_FALSE(json::parse(limited.body(), nullptr, false)["error"].is_null()) << limited.body();

    auto failed = ask("500", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(failed.result_int(), 500);
    EXPECT_FALSE(json::parse(failed.body(), nullptr, false)["error"].is_null()) << failed.body();

    auto malformed = ask("malformed", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(malformed.result_int(), 200);
    EXPECT_EQ(malformed[http::field::content_type], "application/json");
    EXPECT_TRUE(json::parse(malformed.body(), nullptr, false).is_discarded()) << malformed.body();

    auto dropped = ask("drop", ec);
    EXPECT_TRUE(is_closed_without_response(ec)) << "got: " << ec.message() << " / " << dropped.result_int();
  }
  auto st = s.stats();
  for (auto key : {"429", "500", "malformed", "drop"}) EXPECT_EQ(st["faults"][key], 2) << key;
  EXPECT_EQ(st["completed"], 0);
  EXPECT_EQ(st["client_cancellations"], 0);
  s.server.stop();
}

namespace {

// A hanging request: the client gives up after 300 ms and closes; the server must
// notice at once and count the cancellation.
void check_hang_is_cancelled_by_client(bool via_header) {
  running_server s;
  auto body = chat_body("hang please");
  headers extra;
  if (via_header)
    extra.emplace_back("X-Mock-Fault", "hang");
  else
    body["mock_fault"] = "hang";
  test_client c(s.port);
  c.send(http::verb::post, "/v1/chat/completions", body.dump(), extra);
  // A previous poll's connection may linger for a moment, hence open_connections in the wait.
  auto during = wait_for_stats([&] { return get_stats(s.port); },
                               [](const json& st) { return st["in_flight"] == 1 && st["open_connections"] == 1; });
  EXPECT_EQ(during["in_flight"], 1) << during.dump();
  EXPECT_EQ(during["faults"]["hang"], 1) << during.dump();
  EXPECT_EQ(during["open_connections"], 1) << "the hanging one; /stats leaves itself out";

  error_code ec;
  c.receive(ec, 300ms);  // the timeout closes the client's socket
  EXPECT_EQ(ec, beast::error::timeout) << ec.message();
  c.close();

  auto after = wait_for_stats([&] { return get_stats(s.port); },
                              [](const json& st) { return st["client_cancellations"] == 1 && st["open_connections"] == 0; });
  EXPECT_EQ(after["client_cancellations"], 1) << after.dump();
  EXPECT_EQ(after["open_connections"], 0) << after.dump();
  EXPECT_EQ(after["in_flight"], 0) << after.dump();
  EXPECT_EQ(after["completed"], 0) << after.dump();
  s.server.stop();
}

}  // namespace

TEST(MockLlmServer, HangViaHeaderIsCancelledWhenTheClientCloses) { check_hang_is_cancelled_by_client(true); }

TEST(MockLlmServer, HangViaBodyFieldIsCancelledWhenTheClientCloses) { check_hang_is_cancelled_by_client(false); }

TEST(MockLlmServer, ClientClosingDuringLatencyIsNoticedAtOnce) {
  running_server s(with_latency(20000));
  test_client c(s.port);
  c.send(http::verb::post, "/v1/chat/completions", chat_body("slow").dump());
  auto waiting = wait_for_stats([&] { return s.stats(); }, [](const json& st) { return st["in_flight"] == 1; });
  ASSERT_EQ(waiting["in_flight"], 1) << waiting.dump();
  c.close();
  auto after = wait_for_stats([&] { return s.stats(); }, [](const json& st) {
    return st["client_cancellations"] == 1 && st["open_connections"] == 0;
  });
  EXPECT_EQ(after["client_cancellations"], 1) << after.dump();
  EXPECT_EQ(after["open_connections"], 0) << after.dump();
  EXPECT_EQ(after["in_flight"], 0) << after.dump();
  s.server.stop();
}

TEST(MockLlmServer, KeepAliveServesManyRequestsOnOneConnection) {
  mock_llm_options options;
  options.threads = 2;
  running_server s(options);
  test_client c(s.port);
  EXPECT_EQ(c.chat(chat_body("one")).result_int(), 200);
  EXPECT_EQ(c.chat(chat_body("two")).result_int(), 200);
  auto st = s.stats();
  EXPECT_EQ(st["connections_total"], 1);
  EXPECT_EQ(st["requests"], 2);
  EXPECT_EQ(st["completed"], 2);

  // Connection: close is honoured: the server closes after the answer.
  auto last = c.request(http::verb::post, "/v1/chat/completions", chat_body("three").dump(), {}, false);
  EXPECT_EQ(last.result_int(), 200);
  EXPECT_FALSE(last.keep_alive());
  error_code ec;
  c.receive(ec, 2000ms);
  EXPECT_TRUE(is_closed_without_response(ec)) << ec.message();
  auto closed = wait_for_stats([&] { return s.stats(); }, [](const json& st) { return st["open_connections"] == 0; });
  EXPECT_EQ(closed["open_connections"], 0) << closed.dump();
  EXPECT_EQ(closed["connections_total"], 1);
  s.server.stop();
}

TEST(MockLlmServer, RateBasedFaultsAndForcingNone) {
  mock_llm_options options;
  options.fault_rate = 1.0;
  options.faults = {"500"};
  running_server s(options);
  test_client c(s.port);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.chat(chat_body("try " + std::to_string(i))).result_int(), 500) << i;
  EXPECT_EQ(c.chat(chat_body("spared"), {{"X-Mock-Fault", "none"}}).result_int(), 200);
  auto st = s.stats();
  EXPECT_EQ(st["faults"]["500"], 5);
  EXPECT_EQ(st["requests"], 6);
  EXPECT_EQ(st["completed"], 1);
  s.server.stop();
}

TEST(MockLlmServer, FailFirstScriptsAStartUpFault) {
  mock_llm_options options;
  options.fail_first = 2;
  options.fail_first_with = "429";
  options.retry_after_s = 3;
  running_server s(options);
  test_client c(s.port);
  for (int i = 0; i < 2; ++i) {
    auto res = c.chat(chat_body("early " + std::to_string(i)));
    EXPECT_EQ(res.result_int(), 429) << i;
    EXPECT_EQ(res[http::field::retry_after], "3");
  }
  EXPECT_EQ(c.chat(chat_body("later")).result_int(), 200);
  EXPECT_EQ(s.stats()["faults"]["429"], 2);
  mock_llm_options bad;
  bad.fail_first = 1;
  bad.fail_first_with = "teapot";
  EXPECT_THROW(mock_llm_server{bad}, std::invalid_argument);
  s.server.stop();
}

TEST(MockLlmServer, LatencyDelaysTheAnswer) {
  running_server s(with_latency(100));
  test_client c(s.port);
  auto started = std::chrono::steady_clock::now();
  auto res = c.chat(chat_body("wait for it"));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 3s);
  s.server.stop();
}

TEST(MockLlmServer, LatencyWaitsDoNotBlockTheThread) {
  // One I/O thread, ten concurrent 200 ms requests: far less than 10 x 200 ms.
  auto options = with_latency(200);
  options.threads = 1;
  running_server s(options);
  std::vector<std::thread> clients;
  std::vector<int> statuses(10, 0);
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    clients.emplace_back([&, i] {
      try {
        statuses[i] = chat_once(s.port, chat_body("parallel " + std::to_string(i))).result_int();
      } catch (const std::exception&) {
        statuses[i] = -1;
      }
    });
  for (auto& t : clients) t.join();  // each client is bounded by its own 5 s timeouts
  auto took = std::chrono::steady_clock::now() - started;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(statuses[i], 200) << i;
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(s.stats()["completed"], 10);
  s.server.stop();
}

TEST(MockLlmServer, StopEndsPendingRequestsPromptly) {
  running_server s;
  test_client hanging(s.port);
  hanging.send(http::verb::post, "/v1/chat/completions", chat_body("hang").dump(), {{"X-Mock-Fault", "hang"}});
  auto st = wait_for_stats([&] { return s.stats(); }, [](const json& st) { return st["in_flight"] == 1; });
  ASSERT_EQ(st["in_flight"], 1) << st.dump();
  auto started = std::chrono::steady_clock::now();
  s.server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  error_code ec;
  hanging.receive(ec, 2000ms);
  EXPECT_TRUE(is_closed_without_response(ec)) << ec.message();
  s.server.stop();  // idempotent
}

TEST(MockLlmServer, BindFailureAndBadOptionsAreClear) {
  running_server first;
  mock_llm_options same_port;
  same_port.port = first.port;
  mock_llm_server second(same_port);
  try {
    second.start();
    FAIL() << "expected the port to be taken";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port)), std::string::npos) << e.what();
  }
  mock_llm_options bad;
  bad.faults = {"teapot"};
  EXPECT_THROW(mock_llm_server{bad}, std::invalid_argument);
  first.server.stop();
}
