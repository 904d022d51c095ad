// cohort's MCP stdio client against a real MCP server from the npm registry,
// @modelcontextprotocol/server-everything (installed by the npm fixture): the
// handshake, tools/list, calls in parallel, a timeout, a server killed in the middle
// of a call (the call fails at once, the next one starts the server again), and a
// command that does not exist; an agent using a server's tools; the files example with
// @modelcontextprotocol/server-filesystem.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agents/mcp_stdio_client.hpp"
#include "cohort/runtime.hpp"

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

cohort::mcp_server_def everything() {
  cohort::mcp_server_def def;
  def.name = "everything";
  def.command = "node";
  def.args = {std::string(COHORT_NPM_MOCK_DIR) + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
              "stdio"};
  def.timeout_ms = 10000;
  return def;
}

class McpClient : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
  }
};

std::string text_of(const json& result) { return result.at("content").at(0).at("text").get<std::string>(); }

}  // namespace

TEST_F(McpClient, ListsAndCallsTheToolsOfARealServer) {
  cohort::mcp_stdio_client client(everything());
  auto tools = client.list_tools();
  json echo;
  for (const auto& t : tools)
    if (t["name"] == "echo") echo = t;
  ASSERT_TRUE(echo.is_object()) << tools.dump().substr(0, 500);
  EXPECT_EQ(echo["inputSchema"]["required"], json({"message"}));
  EXPECT_EQ(text_of(client.call_tool("echo", {{"message", "hi"}})), "Echo: hi");
  // Calls from several threads at once, each with its own answer.
  std::vector<std::future<std::string>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(std::async(std::launch::async, [&client, i] {
      return text_of(client.call_tool("echo", {{"message", "m" + std::to_string(i)}}));
    }));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(calls[i].get(), "Echo: m" + std::to_string(i));
  // A call the server refuses is a clear error, and the client goes on.
  try {
    client.call_tool("no-such-tool", json::object());
    ADD_FAILURE() << "an unknown tool was called";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_error") << e.what();
  }
  EXPECT_EQ(text_of(client.call_tool("echo", {{"message", "still"}})), "Echo: still");
}

TEST_F(McpClient, ACallPastItsTimeoutFailsAndTheClientGoesOn) {
  cohort::mcp_stdio_client client(everything());
  auto started = std::chrono::steady_clock::now();
  try {
    client.call_tool("trigger-long-running-operation", {{"duration", 5}, {"steps", 5}}, 300);
    ADD_FAILURE() << "no timeout";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "timeout") << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(text_of(client.call_tool("echo", {{"message", "after"}})), "Echo: after");
}

TEST_F(McpClient, AServerKilledMidCallFailsTheCallAndStartsAgainOnTheNext) {
  cohort::mcp_stdio_client client(everything());
  EXPECT_EQ(text_of(client.call_tool("echo", {{"message", "first"}})), "Echo: first");
  auto pid = client.pid();
  ASSERT_GT(pid, 0);
  auto call = std::async(std::launch::async, [&client] {
    return client.call_tool("trigger-long-running-operation", {{"duration", 10}, {"steps", 10}});
  });
  std::this_thread::sleep_for(300ms);
  auto killed = std::chrono::steady_clock::now();
  ::kill(pid, SIGKILL);
  try {
    call.get();
    ADD_FAILURE() << "the call outlived its server";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_unavailable") << e.what();
    EXPECT_NE(std::string(e.what()).find("MCP server everything exited"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 2s);
  EXPECT_EQ(text_of(client.call_tool("echo", {{"message", "again"}})), "Echo: again");
  EXPECT_NE(client.pid(), pid);
}

TEST_F(McpClient, ACommandThatDoesNotExistIsAClearError) {
  auto def = everything();
  def.name = "ghost";
  def.command = "cohort-no-such-mcp-server";
  cohort::mcp_stdio_client client(def);
  try {
    client.list_tools();
    ADD_FAILURE() << "a server that does not exist answered";
  } catch (const cohort::mcp_error& e) {
    EXPECT_EQ(e.kind, "mcp_unavailable") << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot start MCP server ghost (\"cohort-no-such-mcp-server\")"),
              std::string::npos)
        << e.what();
  }
}

// An agent whose tools are a real MCP server's: their descriptions and schemas are
// what the server lists, calls run in parallel as branches, results go back to the model.
TEST_F(McpClient, AnAgentCallsTheToolsOfAnMcpServer) {
  auto server = everything();
  json turns = json::array({json::array({{{"name", "echo"}, {"arguments", {{"message", "tides"}}}},
                                         {{"name", "get-sum"}, {"arguments", {{"a", 2}, {"b", 3}}}}})});
  json doc = {{"name", "mcp"},
              {"mcp_servers", {{"everything", {{"command", server.command}, {"args", server.args}}}}},
              {"models", {{"m", {{"provider", "sim"},
                                 {"rules", json::array({{{"match", "research"}, {"tool_turns", turns},
                                                         {"reply", "report: {{tool_results}}"}}})}}}}},
              {"agents", {{"researcher", {{"model", "m"}, {"prompt", "research tides"},
                                          {"tools", {"mcp:everything/echo", "mcp:everything/get-sum"}}}}}},
              {"workflow", {{"agent", "researcher"}}}};
  cohort::Runtime rt;
  auto sc = rt.load(doc);
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "report: Echo: tides\nThe sum of 2 and 3 is 5.");
  // Arguments the server's schema refuses never reach it: they go back to the model.
  turns[0][1]["arguments"] = {{"a", "two"}};
  doc["models"]["m"]["rules"][0]["tool_turns"] = turns;
  r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_NE(r.output.get<std::string>().find("error (invalid_arguments): arguments"), std::string::npos) << r.output;
  // A whole server: every tool it lists; an unknown one is a load error naming the path.
  doc["agents"]["researcher"]["tools"] = {"mcp:everything"};
  EXPECT_NO_THROW(rt.load(doc));
  doc["agents"]["researcher"]["tools"] = {"mcp:everything/nope", "mcp:nowhere/x"};
  try {
    rt.load(doc);
    ADD_FAILURE() << "unknown MCP tools loaded";
  } catch (const std::exception& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("$.agents.researcher.tools[0]: MCP server everything has no tool \"nope\" (it has: echo"),
              std::string::npos) << what;
    EXPECT_NE(what.find("$.agents.researcher.tools[1]: unknown MCP server \"nowhere\""), std::string::npos) << what;
  }
}

// examples/mcp-files.json against the filesystem server (installed by the fixture rather
// than fetched by npx), run from the repository's root as its description says.
TEST_F(McpClient, TheFilesExampleReadsTheNotesThroughTheFilesystemServer) {
  auto doc = json::parse(std::ifstream(std::string(COHORT_SOURCE_DIR) + "/examples/mcp-files.json"));
  doc["mcp_servers"]["fs"]["command"] = "node";
  doc["mcp_servers"]["fs"]["args"] = {
      std::string(COHORT_NPM_MOCK_DIR) + "/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
      "examples/notes"};
  auto here = std::filesystem::current_path();
  std::filesystem::current_path(COHORT_SOURCE_DIR);
  cohort::RunResult r;
  {
    cohort::Runtime rt;
    r = rt.run(rt.load(doc));
  }
  std::filesystem::current_path(here);
  ASSERT_TRUE(r.ok()) << r.error;
  auto text = r.output.get<std::string>();
  EXPECT_NE(text.find("Tool calls now run as branches"), std::string::npos) << text;
  EXPECT_NE(text.find("group commit"), std::string::npos) << text;
  const auto& report = r.reports.at("reader");
  EXPECT_EQ(report["turns"], 3);
  EXPECT_NE(report["transcript"][1]["content"].get<std::string>().find("standup-2026-12-02.md"), std::string::npos)
      << report["transcript"][1];
}
