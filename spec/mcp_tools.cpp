// The MCP side of agents' tools, where the scenario is loaded: the "mcp_servers"
// section, and each use of an MCP tool turned into a use of a tool agent made for it.
#include <set>
#include <stdexcept>

#include "spec/json_schema.hpp"
#include "spec/model_reader.hpp"
#include "spec/name_list.hpp"
#include "spec/schema_check.hpp"
#include "spec/tool_uses.hpp"

namespace cohort::detail {
namespace {

// The tool agent that answers calls of one MCP tool: on a thread of its own, since the
// call waits for the server.
agent_def mcp_agent(const std::string& name, const std::string& server, const nlohmann::json& tool,
                    const std::string& at, std::vector<std::string>& problems) {
  agent_def a;
  a.name = name;
  a.type = agent_type::tool;
  a.detached = true;
  a.mcp_server = server;
  a.mcp_tool = tool.value("name", "");
  a.description = tool.value("description", "");
  if (tool.contains("inputSchema") && tool["inputSchema"].is_object()) {
    a.parameters = tool["inputSchema"];
    a.parameters.erase("$schema");  // the draft it names is not one a model needs
    a.arguments_schema = compile_schema_at(a.parameters, at + " (the inputSchema of " + name + ")", problems);
  }
  return a;
}

// One server's tools, listed once a load.
class tool_lists {
 public:
  tool_lists(const std::map<std::string, mcp_server_def>& servers, const mcp_tool_lister& list)
      : servers_(servers), list_(list) {}

  const nlohmann::json* of(const std::string& server, const std::string& at, std::vector<std::string>& problems) {
    if (auto it = listed_.find(server); it != listed_.end()) return it->second.is_array() ? &it->second : nullptr;
    auto& tools = listed_[server];
    auto def = servers_.find(server);
    if (def == servers_.end()) {
      problems.push_back(at + ": unknown MCP server \"" + server + "\" (" + known_keys(servers_) + " in \"mcp_servers\")");
    } else if (!list_) {
      problems.push_back(at + ": MCP tools are listed by a cohort Runtime (load the scenario through one)");
    } else {
      try {
        tools = list_(def->second);
      } catch (const std::exception& e) {
        problems.push_back("$.mcp_servers." + server + ": cannot list its tools: " + e.what());
      }
    }
    return tools.is_array() ? &tools : nullptr;
  }

 private:
  const std::map<std::string, mcp_server_def>& servers_;
  const mcp_tool_lister& list_;
  std::map<std::string, nlohmann::json> listed_;
};

}  // namespace

std::map<std::string, mcp_server_def> read_mcp_servers(const nlohmann::json& servers, std::vector<std::string>& problems) {
  std::map<std::string, mcp_server_def> out;
  for (auto& [name, s] : servers.items()) {
    mcp_server_def def;
    def.name = name;
    def.command = s.value("command", "");
    def.args = s.value("args", std::vector<std::string>{});
    def.env = s.value("env", std::map<std::string, std::string>{});
    def.url = s.value("url", "");
    def.api_key_env = s.value("api_key_env", "");
    if (!def.url.empty() && !plain_http_url(def.url))
      problems.push_back("$.mcp_servers." + name + ".url: not an http or https URL: \"" + def.url + "\"");
    def.timeout_ms = s.value("timeout_ms", def.timeout_ms);
    out.emplace(name, std::move(def));
  }
  return out;
}

std::map<std::string, mcp_server_def> read_offered_mcp_servers(const nlohmann::json& servers, const std::string& where) {
  std::vector<std::string> problems;
  check_mcp_servers_against_schema({{"mcp_servers", servers}}, problems);
  check_number_ranges(servers, "$.mcp_servers", problems);
  std::map<std::string, mcp_server_def> out;
  if (problems.empty()) out = read_mcp_servers(servers, problems);
  if (problems.empty()) return out;
  std::string text = where + ": ";
  for (size_t i = 0; i < problems.size(); ++i) text += (i ? "; " : "") + problems[i];
  throw std::runtime_error(text);
}

nlohmann::json listed_mcp_tools(const scenario& s) {
  auto lists = nlohmann::json::object();
  for (const auto& [name, a] : s.agents) {
    if (a.mcp_server.empty()) continue;
    nlohmann::json tool = {{"name", a.mcp_tool}, {"description", a.description}};
    if (!a.parameters.is_null()) tool["inputSchema"] = a.parameters;
    lists[a.mcp_server].push_back(std::move(tool));
  }
  for (const auto& [name, server] : s.mcp_servers)
    if (!lists.contains(name)) lists[name] = nlohmann::json::array();  // named, with no tool (or none used)
  return lists;
}

mcp_access replayed_mcp_tools(const nlohmann::json& lists) {
  mcp_access out;
  if (!lists.is_object()) return out;
  for (const auto& [server, tools] : lists.items()) out.servers[server].name = server;
  out.list = [lists](const mcp_server_def& def) -> nlohmann::json {
    if (!lists.contains(def.name)) throw std::runtime_error("the head sent no tools of MCP server " + def.name);
    return lists[def.name];
  };
  return out;
}

void expand_mcp_tools(std::map<std::string, agent_def>& agents, const std::map<std::string, mcp_server_def>& servers,
                      const mcp_tool_lister& list, std::vector<std::string>& problems) {
  tool_lists lists(servers, list);
  std::map<std::string, agent_def> made;  // the MCP tool agents, by name
  for (auto& [name, agent] : agents) {
    std::vector<tool_use> uses;
    std::set<std::string> names;
    for (size_t i = 0; i < agent.tools.size(); ++i) {
      auto& use = agent.tools[i];
      auto at = "$.agents." + name + ".tools[" + std::to_string(i) + "]";
      if (use.mcp_server.empty()) {
        names.insert(use.name);
        uses.push_back(std::move(use));
        continue;
      }
      const auto* tools = lists.of(use.mcp_server, at, problems);
      if (!tools) continue;
      bool found = false;
      for (const auto& tool : *tools) {
        auto tool_name = tool.is_object() && tool.contains("name") && tool["name"].is_string() ? tool["name"].get<std::string>() : "";
        if (tool_name.empty() || (!use.mcp_tool.empty() && tool_name != use.mcp_tool)) continue;
        found = true;
        auto agent_name = "mcp:" + use.mcp_server + "/" + tool_name;
        if (!made.count(agent_name)) made.emplace(agent_name, mcp_agent(agent_name, use.mcp_server, tool, at, problems));
        auto expanded = use;
        expanded.agent = agent_name;
        expanded.mcp_server.clear();
        expanded.name = !use.mcp_tool.empty() && !use.name.empty() && use.name != use.mcp_tool ? use.name
                                                                                                  : as_callable_name(tool_name);
        if (!names.insert(expanded.name).second)
          problems.push_back(at + ": a second tool named \"" + expanded.name + "\" (from MCP server " + use.mcp_server + ")");
        uses.push_back(std::move(expanded));
      }
      if (!found && !use.mcp_tool.empty()) {
        std::vector<std::string> offered;
        for (const auto& tool : *tools)
          if (tool.is_object() && tool.contains("name") && tool["name"].is_string()) offered.push_back(tool["name"]);
        problems.push_back(at + ": MCP server " + use.mcp_server + " has no tool \"" + use.mcp_tool + "\" (it has: " +
                           join(offered, ", ") + ")");
      }
    }
    agent.tools = std::move(uses);
  }
  for (auto& [name, a] : made) agents.emplace(name, std::move(a));
}

}  // namespace cohort::detail
