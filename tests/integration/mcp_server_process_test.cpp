// MCP clients and what they give away: the descriptors a stdio server inherits (a real
// child process, tests/support/tiny_mcp_server.py) and the URL an HTTP server's errors show.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agents/mcp_http_client.hpp"
#include "agents/mcp_stdio_client.hpp"
#include "cohort/runtime.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

// The test MCP server (tests/support/tiny_mcp_server.py), each request within `timeout_ms`.
mcp_server_def tiny_server(int timeout_ms) {
  mcp_server_def def;
  def.name = "tiny";
  def.command = "python3";
  def.args = {std::string(COHORT_SOURCE_DIR) + "/tests/support/tiny_mcp_server.py"};
  def.timeout_ms = timeout_ms;
  return def;
}

// A listening socket on 127.0.0.1 opened as Asio opens them: without CLOEXEC.
int inheritable_listener() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(fd, 4) != 0) return -1;
  return fd;
}

// A server started while the runtime had sockets open (a node's listener, its model
// connections) held them all: it could accept the node's clients, and a connection
// the node closed stayed open in it. Now it holds its stdin, stdout and stderr only.
TEST(McpServerProcess, AStdioServerInheritsNoDescriptorOfTheRuntime) {
  int listener = inheritable_listener();
  ASSERT_GE(listener, 0);
  auto def = tiny_server(10000);
  std::string open;
  {
    mcp_stdio_client client(def);
    open = mcp_output(client.call_tool("open_files", nlohmann::json::object())).dump();
  }
  ::close(listener);
  EXPECT_EQ(open.find("socket:"), std::string::npos) << open;
}

// A server that left a process in a session of its own holding its output (a daemon, a
// watcher) kept the client's reader waiting: the client's end (the runtime's end, a
// restart) hung until that process ended. Now it ends at once.
TEST(McpServerProcess, AProcessTheServerLeftBehindDoesNotHoldTheClient) {
  auto def = tiny_server(10000);
  auto client = std::make_unique<mcp_stdio_client>(def);
  auto holder = std::stoi(mcp_output(client->call_tool("leave_holder", nlohmann::json::object())).get<std::string>());
  ASSERT_GT(holder, 0);
  auto ended = std::async(std::launch::async, [&client] { client.reset(); });
  bool in_time = ended.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  ::kill(holder, SIGKILL);  // the process the test made the server start: ended here, passed or not
  ended.wait();
  EXPECT_TRUE(in_time) << "the client's end waited for the process its server left behind";
}

// A server that exited while a process it started held its output open was not noticed:
// its call waited out the whole timeout, and every later call went to the dead server
// (into the input that process also held) and timed out too. Now its exit fails the call
// at once, and the next call starts it again.
TEST(McpServerProcess, AServerThatExitsWhileItsChildHoldsItsOutputIsNoticed) {
  auto def = tiny_server(8000);
  auto pid_file = ::testing::TempDir() + "mcp-holder-" + std::to_string(::getpid());
  mcp_stdio_client client(def);
  auto began = std::chrono::steady_clock::now();
  std::string kind = "(answered)";
  try {
    client.call_tool("exit_leaving_holder", {{"pid_file", pid_file}});
  } catch (const mcp_error& e) {
    kind = e.kind;
  }
  auto took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::string again;
  try {
    again = mcp_output(client.call_tool("echo", {{"message", "again"}})).dump();
  } catch (const mcp_error& e) {
    again = e.what();
  }
  if (std::ifstream in(pid_file); in) {  // the process the test made the server leave: ended here
    int holder = 0;
    if (in >> holder && holder > 0) ::kill(holder, SIGKILL);
  }
  std::remove(pid_file.c_str());
  EXPECT_EQ(kind, "mcp_unavailable");
  EXPECT_LT(took_s, 4.0) << "the call waited out its timeout";
  EXPECT_EQ(again, "\"echo: again\"") << "the next call did not start the server again";
}

// A server that floods the client with requests and reads none of the refusals stalled
// it: once the server's input was full, each refusal waited up to timeout_ms for room,
// and the answers behind them (and every caller, and the client's end, which need the
// lock it held) waited too. Now a refusal with no room is dropped and reading goes on.
TEST(McpServerProcess, AServerFloodingRequestsWithoutReadingTheRefusalsStallsNothing) {
  auto def = tiny_server(3000);
  auto client = std::make_unique<mcp_stdio_client>(def);
  client->list_tools();  // started
  int pid = client->pid();
  ASSERT_GT(pid, 0);
  std::string answer;
  auto ended = std::async(std::launch::async, [&client, &answer] {
    try {
      answer = mcp_output(client->call_tool("flood_requests", {{"count", 20000}})).dump();
    } catch (const mcp_error& e) {
      answer = e.what();
    }
    client.reset();
  });
  bool in_time = ended.wait_for(std::chrono::seconds(8)) == std::future_status::ready;
  if (!in_time) ::kill(-pid, SIGKILL);  // its process group: what holds the client ends
  ended.wait();
  EXPECT_TRUE(in_time) << "the client's end waited on a server that reads nothing";
  EXPECT_EQ(answer, "\"flooded\"") << "the answer behind the server's requests did not come through";
}

// An HTTP server's URL may carry a key ("?api_key=", user info). The errors named the URL
// whole, and with on_tool_error "tell_model" an error goes to the model.
TEST(McpServerProcess, AnHttpServersErrorsShowItsUrlWithoutTheSecrets) {
  mcp_server_def def;
  def.name = "remote";
  def.url = "http://someone:hunter2@127.0.0.1:1/mcp?api_key=sk-secret-123#frag";  // port 1: refused
  def.timeout_ms = 3000;
  mcp_http_client client(def);
  try {
    client.list_tools();
    FAIL() << "a refused connection listed tools";
  } catch (const mcp_error& e) {
    std::string text = e.what();
    EXPECT_NE(text.find("http://127.0.0.1:1/mcp"), std::string::npos) << text;
    for (const char* secret : {"sk-secret-123", "hunter2", "someone", "frag"})
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in: " << text;
  }
}

// A call of an MCP tool waited for the server's own timeout (30 s unless the config says
// otherwise), whatever the call's timeout or the run's deadline: its thread stayed, and
// the runtime's end waited for it. Now the call gives up when its branch's time is up.
TEST(McpServerProcess, AToolCallGivesUpWhenItsBranchsTimeIsUp) {
  using json = nlohmann::json;
  auto began = std::chrono::steady_clock::now();
  std::string output;
  {
    auto options = testing::test_options();
    options.mcp_servers = {
        {"tiny", {{"command", "python3"}, {"args", {std::string(COHORT_SOURCE_DIR) + "/tests/support/tiny_mcp_server.py"}}}}};
    Runtime rt(options);
    json turns = json::array({json::array({{{"name", "sleep"}, {"arguments", {{"seconds", 8}}}}})});
    json doc = {{"models", {{"m", {{"provider", "sim"},
                                   {"rules", json::array({{{"match", "work"}, {"tool_turns", turns},
                                                           {"reply", "report: {{tool_results}}"}}})}}}}},
                {"agents", {{"worker", {{"model", "m"}, {"prompt", "work"},
                                        {"tools", json::array({{{"agent", "mcp:tiny/sleep"}, {"timeout_ms", 300}}})}}}}},
                {"workflow", {{"agent", "worker"}}}};
    auto r = rt.run(rt.load(doc));
    ASSERT_TRUE(r.ok()) << r.error;
    output = r.output.dump();
  }
  auto took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  EXPECT_TRUE(testing::has_text(output, "timeout")) << output;
  EXPECT_LT(took_s, 5.0) << "the run and the runtime's end waited for the 8 s call";
}

}  // namespace
}  // namespace cohort
