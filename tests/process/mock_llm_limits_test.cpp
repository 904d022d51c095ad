// mock-llm against clients that misbehave on purpose: bytes that are not UTF-8,
// connections that never ask, and slowloris clients that drip a request byte by
// byte. Raw sockets on 127.0.0.1, so the test controls every byte and its timing;
// every wait has a deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_llm/mock_llm_server.hpp"

namespace {

using namespace std::chrono_literals;
using cohort::mock_llm_options;
using cohort::mock_llm_server;
using nlohmann::json;
using steady = std::chrono::steady_clock;

class raw_client {
 public:
  explicit raw_client(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot connect to the mock server");
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

  // Everything the server sends until it closes the connection (or `limit` passes:
  // then `closed` stays false).
  struct reading {
    std::string bytes;
    bool closed = false;
    steady::duration took{};
  };
  reading read_until_closed(std::chrono::milliseconds limit) {
    reading r;
    auto start = steady::now();
    auto deadline = start + limit;
    while (steady::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (::poll(&p, 1, static_cast<int>(left > 0 ? left : 0)) <= 0) continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        r.closed = true;
        break;
      }
      r.bytes.append(buf, static_cast<std::size_t>(n));
    }
    r.took = steady::now() - start;
    return r;
  }

 private:
  int fd_;
};

std::string chat_request(const std::string& body, bool keep_alive = false) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: " +
         (keep_alive ? "keep-alive" : "close") + "\r\n\r\n" + body;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

json body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return json::parse(response.substr(at + 4));  // throws if the server wrote invalid JSON
}

mock_llm_options quick_timeouts(int idle_ms, int header_ms) {
  mock_llm_options o;
  o.idle_timeout_ms = idle_ms;
  o.header_timeout_ms = header_ms;
  return o;
}

TEST(MockLlmLimits, InvalidUtf8InTheBodyIsA400WithValidJson) {
  mock_llm_server s{mock_llm_options{}};
  auto port = s.start();
  raw_client c(port);
  ASSERT_TRUE(c.send(chat_request("{\"messages\": [{\"role\": \"user\", \"content\": \"bad \xff\xfe bytes\"}]}")));
  auto r = c.read_until_closed(5000ms);
  ASSERT_TRUE(r.closed) << r.bytes;
  EXPECT_EQ(status_of(r.bytes), 400) << r.bytes;
  auto doc = body_of(r.bytes);
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("UTF-8"), std::string::npos) << doc.dump();
  EXPECT_EQ(s.stats()["invalid_requests"], 1);
}

TEST(MockLlmLimits, InvalidUtf8EchoedFromTheTargetStaysValidJson) {
  mock_llm_server s{mock_llm_options{}};
  auto port = s.start();
  raw_client c(port);
  ASSERT_TRUE(c.send("GET /nowhere\xff\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto r = c.read_until_closed(5000ms);
  EXPECT_EQ(status_of(r.bytes), 404) << r.bytes;
  EXPECT_NO_THROW(body_of(r.bytes));
}

TEST(MockLlmLimits, AConnectionThatNeverAsksIsClosedAfterTheIdleTimeout) {
  mock_llm_server s{quick_timeouts(300, 60000)};
  auto port = s.start();
  raw_client c(port);
  auto r = c.read_until_closed(10000ms);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.bytes.empty()) << "nothing to answer: a quiet close, got " << r.bytes;
  EXPECT_GE(r.took, 250ms);
  EXPECT_EQ(s.stats()["timed_out_connections"], 1);
}

TEST(MockLlmLimits, AnIdleKeepAliveConnectionIsClosedAfterItsAnswer) {
  mock_llm_server s{quick_timeouts(300, 60000)};
  auto port = s.start();
  raw_client c(port);
  ASSERT_TRUE(c.send(chat_request(R"({"messages": [{"role": "user", "content": "hi"}]})", true)));
  auto r = c.read_until_closed(10000ms);
  ASSERT_TRUE(r.closed);
  EXPECT_EQ(status_of(r.bytes), 200) << r.bytes;
  EXPECT_EQ(s.stats()["completed"], 1);
  EXPECT_EQ(s.stats()["timed_out_connections"], 1);
}

// Each byte arrives well within the idle timeout, but the header never completes.
TEST(MockLlmLimits, ASlowlorisHeaderGets408AndAClose) {
  mock_llm_server s{quick_timeouts(60000, 400)};
  auto port = s.start();
  raw_client c(port);
  std::string start = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ";
  ASSERT_TRUE(c.send(start));
  auto began = steady::now();
  bool sending = true;
  for (int i = 0; i < 100 && sending && steady::now() - began < 5s; ++i) {
    std::this_thread::sleep_for(50ms);
    sending = c.send("a");
  }
  auto r = c.read_until_closed(10000ms);
  ASSERT_TRUE(r.closed);
  EXPECT_EQ(status_of(r.bytes), 408) << r.bytes;
  EXPECT_LT(steady::now() - began, 5s) << "closed by the header timeout, not after the drip ended";
  EXPECT_EQ(s.stats()["timed_out_connections"], 1);
  EXPECT_EQ(s.stats()["requests"], 0);
}

TEST(MockLlmLimits, ABodyThatNeverCompletesGets408) {
  mock_llm_server s{quick_timeouts(60000, 300)};
  auto port = s.start();
  raw_client c(port);
  ASSERT_TRUE(c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess"));
  auto r = c.read_until_closed(10000ms);
  ASSERT_TRUE(r.closed);
  EXPECT_EQ(status_of(r.bytes), 408) << r.bytes;
  EXPECT_EQ(s.stats()["requests"], 0);
}

TEST(MockLlmLimits, TimeoutsMustBePositive) {
  EXPECT_THROW(mock_llm_server{quick_timeouts(0, 100)}, std::invalid_argument);
  EXPECT_THROW(mock_llm_server{quick_timeouts(100, -1)}, std::invalid_argument);
}

}  // namespace

// Found by the mock_llm fuzz target: a message without "content" was read through a
// key that was not there (an assertion, undefined behaviour without one).
TEST(MockLlmLimits, MessagesWithoutContentAreAnswered) {
  auto reply = cohort::mock_llm_answer(mock_llm_options{}, "POST", "/v1/chat/completions", {},
                                       R"({"messages": [{"role": "system", "content": "terse"}, {"role": "user", "contentypet": "hi"}, 7]})");
  EXPECT_TRUE(reply.status == 200 || reply.status == 400) << reply.status << " " << reply.body;
  EXPECT_FALSE(nlohmann::json::parse(reply.body, nullptr, false).is_discarded()) << reply.body;
}
