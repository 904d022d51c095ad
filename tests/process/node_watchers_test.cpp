// A watcher that does not read is let go, told why, instead of being buffered without
// bound; it resumes with Last-Event-ID and gets the rest, without a gap or a duplicate.
// A late watcher is not let go for the history it is sent first.
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

// Branches that end over two seconds: live events all along.
json wide_scenario(int branches) {
  auto doc = json::parse(R"({"name": "wide", "models": {"m": {"provider": "sim", "latency_ms": {"min": 0, "max": 2000}}},
    "agents": {"a": {"type": "llm", "model": "m", "prompt": "item {{item}} of a text long enough to fill buffers"}},
    "workflow": {"type": "fan_out", "over": "input.items", "do": {"agent": "a"}, "policy": "all_settled"}})");
  json items = json::array();
  for (int i = 0; i < branches; ++i) items.push_back(i);
  doc["input"] = {{"items", items}};
  return doc;
}

// The SSE ids in a raw stream, and whether it ended with the "dropped" notice.
std::vector<int64_t> ids_in(const std::string& raw, bool* dropped) {
  std::vector<int64_t> ids;
  std::stringstream lines(raw);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("id: ", 0) == 0) ids.push_back(std::stoll(line.substr(4)));
  *dropped = raw.find("event: dropped") != std::string::npos;
  return ids;
}

TEST(NodeWatchers, ASlowWatcherIsLetGoAndResumesWithoutAGap) {
  node_process node(fresh_dir("slow-watcher"), {"--watcher-queue", "20"});
  auto id = submit(node.port(), {{"scenario", wide_scenario(5000)}})["id"].get<std::string>();

  // A watcher with a tiny receive buffer that reads nothing for a while.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(node.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /v1/runs/" + id + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::string raw;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);

  bool dropped = false;
  auto first = ids_in(raw, &dropped);
  ASSERT_TRUE(dropped) << raw.substr(0, 400);
  ASSERT_FALSE(first.empty());
  for (size_t i = 0; i < first.size(); ++i) ASSERT_EQ(first[i], static_cast<int64_t>(i + 1));

  // The rest, from where it was let go, up to the result.
  auto doc = wait_finished(node.port(), id, 60000);
  ASSERT_EQ(doc["status"], "succeeded");
  auto rest_raw = http_stream(node.port(), "/v1/runs/" + id + "/events", {{"Last-Event-ID", std::to_string(first.back())}}, 30000);
  bool dropped_again = false;
  auto rest = ids_in(rest_raw, &dropped_again);
  EXPECT_FALSE(dropped_again);  // a reader that keeps up is not let go
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front(), first.back() + 1);
  EXPECT_EQ(rest.back(), doc["events"].get<int64_t>());
  EXPECT_EQ(static_cast<int64_t>(first.size() + rest.size()), doc["events"].get<int64_t>());
  EXPECT_NE(rest_raw.find("event: result"), std::string::npos);

  // From the start, after the run: thousands of events of history, far over the limit of
  // 20, and nothing is let go.
  bool dropped_late = false;
  auto all = ids_in(http_stream(node.port(), "/v1/runs/" + id + "/events", {}, 30000), &dropped_late);
  EXPECT_FALSE(dropped_late);
  EXPECT_EQ(static_cast<int64_t>(all.size()), doc["events"].get<int64_t>());
}

}  // namespace
}  // namespace cohort::testing
