// cohort's MCP client over the Streamable HTTP transport against a real server from the
// npm registry: @modelcontextprotocol/server-everything in its streamableHttp mode (a
// separate process on 127.0.0.1, answering with event streams and a session id). The
// handshake and session, calls in parallel, a timeout, the server killed mid-call, a
// restarted server that no longer knows the session, a refused connection, and an agent
// whose tools live on the HTTP server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agents/mcp_http_client.hpp"
#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A port nothing listens on now (the kernel's pick, released at once).
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// server-everything over Streamable HTTP on `port`, once it says it listens.
std::unique_ptr<cohort::testing::child_process> http_everything(int port) {
  auto p = std::make_unique<cohort::testing::child_process>(std::vector<std::string>{
      "/usr/bin/env", "PORT=" + std::to_string(port), "node",
      std::string(COHORT_NPM_MOCK_DIR) + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
      "streamableHttp"});
  // It says so on stderr; until then, connections are refused.
  for (int i = 0; i < 200; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (up) return p;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("server-everything did not listen on " + std::to_string(port) + ": " + p->read_stderr(500));
}

cohort::mcp_server_def http_def(int port) {
  cohort::mcp_server_def def;
  def.name = "web";
  def.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  def.timeout_ms = 10000;
  return def;
}

std::string http_text_of(const json& result) { return result.at("content").at(0).at("text").get<std::string>(); }

class McpHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
    port_ = unused_port();
    server_ = http_everything(port_);
  }
  int port_ = 0;
  std::unique_ptr<cohort::testing::child_process> server_;
};

}  // namespace

TEST_F(McpHttp, ListsAndCallsToolsInOneSessionAndInParallel) {
  cohort::mcp_http_client client(http_def(port_));
  auto tools = client.list_tools();
  json echo;
  for (const auto& t : tools)
    if (t["name"] == "echo") echo = t;
  ASSERT_TRUE(echo.is_object()) << tools.dump().substr(0, 500);
  EXPECT_EQ(http_text_of(client.call_tool("echo", {{"message", "hi"}})), "Echo: hi");
  std::vector<std::future<std::string>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(std::async(std::launch::async, [&client, i] {
      return http_text_of(client.call_tool("echo", {{"message", "m" + std::to_string(i)}}));
    }));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(calls[i].get(), "Echo: m" + std::to_string(i));
  try {
    client.call_tool("no-such-tool", json::object());
    ADD_FAILURE() << "an unknown tool was called";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_error") << e.what();
  }
  // A call past its timeout fails alone; the session goes on.
  auto started = std::chrono::steady_clock::now();
  try {
    client.call_tool("trigger-long-running-operation", {{"duration", 5}, {"steps", 5}}, 300);
    ADD_FAILURE() << "no timeout";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "timeout") << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(http_text_of(client.call_tool("echo", {{"message", "after"}})), "Echo: after");
}

TEST_F(McpHttp, AServerKilledMidCallFailsItAndARestartedOneGetsANewSession) {
  cohort::mcp_http_client client(http_def(port_));
  EXPECT_EQ(http_text_of(client.call_tool("echo", {{"message", "first"}})), "Echo: first");
  auto call = std::async(std::launch::async, [&client] {
    return client.call_tool("trigger-long-running-operation", {{"duration", 10}, {"steps", 10}});
  });
  std::this_thread::sleep_for(500ms);
  auto killed = std::chrono::steady_clock::now();
  server_->signal(SIGKILL);
  server_->wait(5000);
  try {
    call.get();
    ADD_FAILURE() << "the call outlived its server";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_unavailable") << e.what();
    EXPECT_NE(std::string(e.what()).find("MCP server web (http://127.0.0.1:"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 2s);
  // Nothing listens now: a clear error at once.
  try {
    client.call_tool("echo", {{"message", "nobody"}});
    ADD_FAILURE() << "a call reached a dead server";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_unavailable") << e.what();
  }
  // A new server on the same port does not know the old session: the client makes a new one.
  server_ = http_everything(port_);
  EXPECT_EQ(http_text_of(client.call_tool("echo", {{"message", "again"}})), "Echo: again");
}

// An agent whose tools are on the HTTP server: listed at load, called as branches.
TEST_F(McpHttp, AnAgentCallsTheToolsOfAnHttpMcpServer) {
  json turns = json::array({json::array({{{"name", "echo"}, {"arguments", {{"message", "tides"}}}},
                                         {{"name", "get-sum"}, {"arguments", {{"a", 2}, {"b", 3}}}}})});
  json doc = {{"name", "mcp-http"},
              {"mcp_servers", {{"web", {{"url", http_def(port_).url}, {"timeout_ms", 10000}}}}},
              {"models", {{"m", {{"provider", "sim"},
                                 {"rules", json::array({{{"match", "research"}, {"tool_turns", turns},
                                                         {"reply", "report: {{tool_results}}"}}})}}}}},
              {"agents", {{"researcher", {{"model", "m"}, {"prompt", "research tides"},
                                          {"tools", {"mcp:web/echo", "mcp:web/get-sum"}}}}}},
              {"workflow", {{"agent", "researcher"}}}};
  cohort::Runtime rt;
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "report: Echo: tides\nThe sum of 2 and 3 is 5.");
  // A server definition with both or neither of command and url, or a URL that is not
  // http(s), is a load error naming the place.
  doc["mcp_servers"]["web"]["url"] = "ftp://example.org/mcp";
  try {
    rt.load(doc);
    ADD_FAILURE() << "an ftp URL loaded";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("$.mcp_servers.web.url: not an http or https URL"), std::string::npos)
        << e.what();
  }
  doc["mcp_servers"]["web"] = {{"url", http_def(port_).url}, {"command", "node"}};
  EXPECT_THROW(rt.load(doc), std::exception);
}
