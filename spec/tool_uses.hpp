#pragma once
// The tools of llm agents, read where the scenario is loaded (docs/tools.md): each
// names an agent of the scenario, under a function name a model can call; agents do
// not call themselves, even through others; an agent used as a tool has the JSON
// Schema of its arguments compiled once.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cohort/tool.hpp"
#include "spec/scenario.hpp"

namespace cohort::detail {

// What OpenAI (and every compatible server) takes as a function name: 1 to 64 of a-z,
// A-Z, 0-9, _ and -. as_callable_name makes one of any name (the others become _).
bool callable_name(const std::string& name);
std::string as_callable_name(const std::string& name);

// An agent's own keys about tools: "tools", "max_turns", "on_tool_error",
// "max_tool_concurrency", and as a tool "description" and "parameters".
void read_tool_keys(agent_def& d, const nlohmann::json& a, const std::string& path,
                    std::vector<std::string>& problems);

// "mcp_servers": each server's command, args, env and timeout.
std::map<std::string, mcp_server_def> read_mcp_servers(const nlohmann::json& servers, std::vector<std::string>& problems);
// The servers a runtime's config offers every scenario (the shape of a scenario's
// "mcp_servers"), checked as a scenario's are; throws std::runtime_error naming `where`
// and each path.
std::map<std::string, mcp_server_def> read_offered_mcp_servers(const nlohmann::json& servers, const std::string& where);

// A worker loads its head's scenario without reaching the MCP servers (their tools run
// on the head): the head sends, under this key of the scenario document, the tools each
// server listed ({"server": [{"name", "description", "inputSchema"}]}), and the worker
// loads with them.
constexpr const char* head_mcp_tools_key = "$head_mcp_tools";
nlohmann::json listed_mcp_tools(const scenario& s);
mcp_access replayed_mcp_tools(const nlohmann::json& lists);

// Each use of "mcp:server/tool" or "mcp:server" (every tool of it) becomes a use of a
// tool agent made for that MCP tool, named "mcp:server/tool", with the description and
// input schema the server lists (spec/mcp_tools.cpp).
void expand_mcp_tools(std::map<std::string, agent_def>& agents, const std::map<std::string, mcp_server_def>& servers,
                      const mcp_tool_lister& list, std::vector<std::string>& problems);

// Once every agent is read: checks the uses against each other and adds each agent's
// "tools" request array to its params.
void settle_tool_uses(std::map<std::string, agent_def>& agents, std::vector<std::string>& problems);

}  // namespace cohort::detail

namespace cohort {

// What the embedder registered about C++ tools, for tool agents whose scenario says
// nothing of their own: their description and parameters, and the tools arrays of the
// agents that call them.
void describe_registered_tools(scenario& s, const std::map<std::string, ToolInfo>& infos);

}  // namespace cohort
