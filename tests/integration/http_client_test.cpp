// The HTTP client inside an embedded runtime, against a real `cohort mock-llm` process:
// max_in_flight queues the excess, and keep-alive connections are reused across runs.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"

using cohort::testing::http_get;
using cohort::testing::mock_llm_process;
using cohort::testing::wait_stats;
using nlohmann::json;

TEST(HttpClient, MaxInFlightQueuesAndConnectionsAreReused) {
  mock_llm_process mock({"--latency-ms", "100"});
  cohort::Runtime rt;
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"max_in_flight", 2}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
                     {"input", {{"xs", {1, 2, 3, 4, 5, 6}}}}});
  auto first = rt.run(sc);
  ASSERT_TRUE(first.ok()) << first.error;
  // Six 100 ms calls, two at a time: three rounds.
  EXPECT_GE(first.summary.wall_ms, 290);
  auto second = rt.run(sc);
  ASSERT_TRUE(second.ok()) << second.error;
  auto s = json::parse(http_get(mock.port(), "/stats"));
  EXPECT_EQ(s["requests"], 12);
  EXPECT_LE(s["connections_total"].get<int>(), 3) << "keep-alive connections were not reused: " << s.dump();
  EXPECT_EQ(s["client_cancellations"], 0);
  EXPECT_EQ(rt.open_connections(), s["open_connections"].get<size_t>());  // the idle keep-alive ones
  EXPECT_GE(rt.open_connections(), 1u);
}

// Beyond max_in_flight, calls wait by their branch's priority: with one call at a time,
// once the first is under way the high-priority fan-out's calls all go before the rest.
TEST(HttpClient, QueuedCallsGoByPriority) {
  mock_llm_process mock({"--latency-ms", "30"});
  cohort::Runtime rt;
  auto part = [](const std::string& name, int priority) {
    return json{{"type", "fan_out"}, {"name", name}, {"priority", priority}, {"over", "input.xs"}, {"agent", "a"}};
  };
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"max_in_flight", 1}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"branches", {part("low", 0), part("high", 5)}}}},
                     {"input", {{"xs", {1, 2, 3, 4}}}}});
  std::mutex m;
  std::vector<std::string> finished;
  auto r = rt.run(sc, std::nullopt, [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    if (e.leaf && e.kind == "finished") finished.push_back(e.path.find("/high/") != std::string::npos ? "high" : "low");
  });
  ASSERT_TRUE(r.ok()) << r.error;
  std::lock_guard<std::mutex> lock(m);
  ASSERT_EQ(finished.size(), 8u);
  auto first_high = std::find(finished.begin(), finished.end(), "high") - finished.begin();
  ASSERT_LE(first_high, 1);
  for (auto i = first_high; i < first_high + 4; ++i) EXPECT_EQ(finished[static_cast<size_t>(i)], "high") << i;
}

TEST(HttpClient, CancelClosesInFlightRequests) {
  mock_llm_process mock({"--latency-ms", "20000"});
  cohort::Runtime rt;
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
                     {"input", {{"xs", {1, 2, 3, 4, 5}}}}});
  auto run = rt.start(sc);
  auto s = wait_stats(mock.port(), [](const json& s) { return s["in_flight"] == 5; });
  ASSERT_EQ(s["in_flight"], 5) << s.dump();
  run.cancel();
  auto r = run.wait_for(std::chrono::seconds(2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "cancelled");
  EXPECT_EQ(r->branches.cancelled, 5);
  s = wait_stats(mock.port(), [](const json& s) { return s["open_connections"] == 0; });
  EXPECT_EQ(s["open_connections"], 0) << s.dump();
  EXPECT_EQ(s["client_cancellations"], 5) << s.dump();
  EXPECT_EQ(rt.open_connections(), 0u);
}

// A reused keep-alive connection whose server does not answer in time is a timeout, not
// a stale connection: it is not sent again (which would double the wait).
TEST(HttpClient, TimeoutOnAReusedConnectionIsNotResent) {
  mock_llm_process mock;
  cohort::Runtime rt;
  // The first step leaves its keep-alive connection idle; the second, on it, hangs.
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"request_timeout_ms", 300}}}}},
                     {"agents", {{"ok", {{"model", "m"}, {"prompt", "call"}}},
                                 {"hangs", {{"model", "m"}, {"prompt", "call"}, {"params", {{"mock_fault", "hang"}}}}}}},
                     {"workflow", {{"type", "pipeline"}, {"steps", {{{"agent", "ok"}}, {{"agent", "hangs"}}}}}}});
  auto r = rt.run(sc);
  EXPECT_EQ(r.error_kind, "timeout") << r.error;
  auto s = json::parse(http_get(mock.port(), "/stats"));
  // One connection for both calls, and one for this GET /stats.
  EXPECT_EQ(s["connections_total"], 2) << "the second call did not reuse the connection: " << s.dump();
  EXPECT_EQ(s["requests"], 2) << "the timed-out call was sent again: " << s.dump();
}

// A server whose accept queue is full drops new SYNs (no refusal): only the connect
// timeout ends the call, as a timeout that names the connecting stage.
TEST(HttpClient, ConnectTimeoutIsATimeoutOfTheConnectingStage) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 0), 0);  // never accepted: the queue fills at once
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto port = ntohs(addr.sin_port);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    cohort::Runtime rt;
    auto url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", url}, {"connect_timeout_ms", 300}}}}},
                       {"agents", {{"a", {{"model", "m"}, {"prompt", "call"}, {"timeout_ms", 10000}}}}},
                       {"workflow", {{"type", "pipeline"}, {"steps", {{{"agent", "a"}}}}}}});
    auto started = std::chrono::steady_clock::now();
    auto r = rt.run(sc);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    EXPECT_EQ(r.error_kind, "timeout") << r.error;
    EXPECT_NE(r.error.find("connecting to 127.0.0.1:" + std::to_string(port) + " within 300 ms"), std::string::npos)
        << r.error;
    EXPECT_GE(took.count(), 290);
    EXPECT_LT(took.count(), 5000) << "the connect timeout did not end the call";
  }
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

// The API key is read from its variable on each request, not once per client: a key
// set (or rotated) while the runtime lives is used by the next call.
TEST(HttpClient, ApiKeyIsReadOnEachRequest) {
  mock_llm_process mock;
  ::unsetenv("COHORT_TEST_ROTATED_KEY");
  cohort::Runtime rt;
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()},
                                        {"api_key_env", "COHORT_TEST_ROTATED_KEY"}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
                     {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
                     {"input", {{"xs", {1, 2, 3}}}}});
  auto without = rt.run(sc);
  ASSERT_TRUE(without.ok()) << without.error;
  auto s = json::parse(http_get(mock.port(), "/stats"));
  EXPECT_EQ(s["requests"], 3);
  EXPECT_EQ(s["bearer_requests"], 0);
  ::setenv("COHORT_TEST_ROTATED_KEY", "sk-rotated", 1);
  auto with = rt.run(sc);
  ::unsetenv("COHORT_TEST_ROTATED_KEY");
  ASSERT_TRUE(with.ok()) << with.error;
  s = json::parse(http_get(mock.port(), "/stats"));
  EXPECT_EQ(s["requests"], 6);
  EXPECT_EQ(s["bearer_requests"], 3) << "the key set after the client started was not sent: " << s.dump();
}
