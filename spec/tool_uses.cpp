#include "spec/tool_uses.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "spec/json_schema.hpp"
#include "spec/name_list.hpp"
#include "spec/workflow_reader.hpp"

namespace cohort::detail {
namespace {

// "mcp:server/tool" or "mcp:server": a tool of an MCP server, found when it is expanded.
void split_mcp(tool_use& use) {
  if (use.agent.rfind("mcp:", 0) != 0) return;
  auto rest = use.agent.substr(4);
  auto slash = rest.find('/');
  use.mcp_server = rest.substr(0, slash);
  use.mcp_tool = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (use.name == use.agent) use.name = use.mcp_tool;  // the tool's own name, unless one is given
}

tool_use read_use(const nlohmann::json& j, const std::string& at, std::vector<std::string>& problems) {
  tool_use use;
  if (j.is_string()) {
    use.agent = use.name = j.get<std::string>();
    split_mcp(use);
    return use;
  }
  use.agent = j.value("agent", "");
  use.name = j.value("name", use.agent);
  split_mcp(use);
  if (j.contains("workflow")) {  // the schema asks for a name and no agent then
    use.workflow = j["workflow"];
    use.description = j.value("description", "");
    use.parameters = j.value("parameters", nlohmann::json());
    if (!use.parameters.is_null()) use.arguments_schema = compile_schema_at(use.parameters, at + ".parameters", problems);
  }
  use.timeout_ms = j.value("timeout_ms", 0);
  if (j.contains("retry")) use.retry = workflow_loader::retry_of(j["retry"]);
  return use;
}

// What the model is told of a tool: its name, description and parameters.
nlohmann::json function_of(const tool_use& use) {
  auto parameters = use.parameters.is_null() ? nlohmann::json{{"type", "object"}, {"properties", nlohmann::json::object()}}
                                             : use.parameters;
  auto description = !use.description.empty() ? use.description
                     : use.workflow.is_null() ? "Runs the agent " + use.agent + "."
                                              : "Runs the workflow " + use.name + ".";
  return {{"type", "function"},
          {"function", {{"name", use.name}, {"description", description}, {"parameters", std::move(parameters)}}}};
}

// Depth-first over "calls": a path back to an agent on the stack is a cycle.
class cycle_finder {
 public:
  explicit cycle_finder(const std::map<std::string, agent_def>& agents) : agents_(agents) {}

  // The chain "a -> b -> a" of the first cycle reached from `name`, or "".
  std::string find(const std::string& name) {
    stack_.clear();
    return from(name);
  }

 private:
  std::string from(const std::string& name) {
    if (done_.count(name)) return {};
    auto on_stack = std::find(stack_.begin(), stack_.end(), name);
    if (on_stack != stack_.end()) {
      std::vector<std::string> chain(on_stack, stack_.end());
      chain.push_back(name);
      return join(chain, " -> ");
    }
    auto it = agents_.find(name);
    if (it == agents_.end()) return {};
    stack_.push_back(name);
    for (const auto& use : it->second.tools)
      if (auto chain = from(use.agent); !chain.empty()) return chain;
    stack_.pop_back();
    done_.insert(name);
    return {};
  }

  const std::map<std::string, agent_def>& agents_;
  std::vector<std::string> stack_;
  std::set<std::string> done_;
};

}  // namespace

bool callable_name(const std::string& name) {
  auto allowed = [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; };
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), allowed);
}

std::string as_callable_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out += std::isalnum(c) || c == '_' || c == '-' ? static_cast<char>(c) : '_';
  return out.empty() ? "tool" : out.substr(0, 64);
}

void read_tool_keys(agent_def& d, const nlohmann::json& a, const std::string& path,
                    std::vector<std::string>& problems) {
  d.description = a.value("description", "");
  if (a.contains("parameters")) {
    d.parameters = a["parameters"];
    d.arguments_schema = compile_schema_at(d.parameters, path + ".parameters", problems);
  }
  if (!a.contains("tools")) return;
  if (d.type != agent_type::llm) problems.push_back(path + ".tools: only an llm agent calls tools");
  const auto& list = a["tools"];
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    auto at = path + ".tools[" + std::to_string(i) + "]";
    auto use = read_use(list[i], at, problems);
    if (!use.mcp_server.empty()) {  // named once the server's tools are known
      d.tools.push_back(std::move(use));
      continue;
    }
    if (!callable_name(use.name))
      problems.push_back(at + ": \"" + use.name + "\" is not a name a model can call (1 to 64 of a-z, A-Z, 0-9, _ and -); "
                              "give one with {\"agent\", \"name\"}");
    else if (!names.insert(use.name).second)
      problems.push_back(at + ": a second tool named \"" + use.name + "\"");
    d.tools.push_back(std::move(use));
  }
  d.max_turns = a.value("max_turns", d.max_turns);
  d.max_tool_concurrency = a.value("max_tool_concurrency", 0);
  if (a.contains("on_tool_error"))
    d.on_tool_error = parse_name_at(a["on_tool_error"].get<std::string>(), path + ".on_tool_error", problems,
                                    tool_error_mode::tell_model);
  if (d.params.contains("tools"))
    problems.push_back(path + ".params.tools: give the tools by \"tools\" (agents that answer them), not in params");
}

void settle_tool_uses(std::map<std::string, agent_def>& agents, std::vector<std::string>& problems) {
  cycle_finder cycles(agents);
  for (auto& [name, agent] : agents) {
    if (agent.tools.empty()) continue;
    auto path = "$.agents." + name + ".tools";
    auto specs = nlohmann::json::array();
    for (size_t i = 0; i < agent.tools.size(); ++i) {
      auto& use = agent.tools[i];
      if (use.workflow.is_null()) {  // an agent: what the model is told is the agent's
        auto target = agents.find(use.agent);
        if (target == agents.end()) {
          problems.push_back(path + "[" + std::to_string(i) + "]: unknown agent \"" + use.agent + "\" (" +
                             known_keys(agents) + ")");
          continue;
        }
        use.description = target->second.description;
        use.parameters = target->second.parameters;
        use.arguments_schema = target->second.arguments_schema;
      }
      specs.push_back(function_of(use));
    }
    if (auto chain = cycles.find(name); !chain.empty())
      problems.push_back(path + ": the agents call each other in a circle (" + chain +
                         "): each call would start another without end");
    agent.params["tools"] = std::move(specs);
  }
}

}  // namespace cohort::detail

namespace cohort {

void describe_registered_tools(scenario& s, const std::map<std::string, ToolInfo>& infos) {
  bool described = false;
  for (auto& [name, agent] : s.agents) {
    auto info = infos.find(agent.tool);
    if (agent.type != agent_type::tool || info == infos.end()) continue;
    if (agent.description.empty()) agent.description = info->second.description;
    if (agent.parameters.is_null() && !info->second.parameters.is_null()) {
      agent.parameters = info->second.parameters;
      agent.arguments_schema = std::make_shared<const json_schema>(agent.parameters);  // checked when registered
    }
    described = true;
  }
  if (!described) return;
  std::vector<std::string> problems;  // none: the scenario loaded
  detail::settle_tool_uses(s.agents, problems);
}

}  // namespace cohort
