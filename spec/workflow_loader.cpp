#include "spec/workflow_loader.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "spec/dag_graph.hpp"
#include "spec/name_list.hpp"
#include "spec/template.hpp"
#include "spec/workflow_reader.hpp"

namespace cohort::detail {

scope with(scope s, std::initializer_list<const char*> names) {
  for (auto n : names) s.insert(n);
  return s;
}

// The workflow types a scenario may write.
std::string written_kinds() {
  auto all = all_names<node_kind>();
  auto loop = all.find(", tool_loop");
  return loop == std::string::npos ? all : all.erase(loop, 11);
}

std::string describe(const scope& s) {
  std::vector<std::string> names;
  for (auto& n : s)
    if (n.find('.') == std::string::npos) names.push_back(n);
  return join(names, ", ");
}

// Node paths join labels with '/': a label holding one would make two paths alike.
void workflow_loader::check_name(const std::string& path, const std::string& name) {
  if (name.find('/') != std::string::npos)
    problem(path, "\"" + name + "\" contains '/', which separates the parts of a node path");
}

std::shared_ptr<workflow_node> workflow_loader::node(const nlohmann::json& j, const std::string& path, const std::string& label,
              const scope& outer) {
  auto n = std::make_shared<workflow_node>();
  n->json_path = path;
  n->label = j.value("name", label);
  if (j.contains("name")) check_name(path + ".name", n->label);
  n->timeout_ms = j.value("timeout_ms", 0);
  n->weight = j.value("weight", 1.0);
  if (j.contains("required")) n->required = j["required"].get<bool>() ? 1 : 0;
  if (j.contains("retry")) n->retry = retry_of(j["retry"]);
  if (j.contains("needs")) n->needs = needs_of(j["needs"], path + ".needs");
  if (j.contains("priority")) n->priority = j["priority"].get<int>();
  if (j.contains("placement")) n->placement = placement_rule_of(j["placement"]);
  nearest_placement below(placing_, n->placement ? &*n->placement : nullptr);
  auto s = outer;
  if (j.contains("with")) {
    n->with = j["with"];
    for (auto& [k, v] : n->with.items()) s.insert(k);
  }
  for (const char* key : {"id", "depends_on"})
    if (j.contains(key)) problem(path + "." + key, "only the nodes of a dag have \"" + std::string(key) + "\"");
  std::string type = j.value("type", "");
  if (type.empty()) type = j.contains("steps") ? "pipeline" : j.contains("agent") ? "agent" : "";
  auto kind = parse_name<node_kind>(type);
  if (kind == node_kind::tool_loop) kind.reset();  // what an agent with tools becomes, not a type to write
  if (!kind) {
    problem(path + ".type", type.empty() ? "missing key \"type\" (" + written_kinds() + ")"
                                         : "unknown workflow type \"" + type + "\" (" + written_kinds() + ")");
    return n;
  }
  switch (*kind) {
    case node_kind::agent:
      n->kind = node_kind::agent;
      n->agent = j.value("agent", "");
      if (n->agent.empty()) {
        problem(path, "missing key \"agent\"");
      } else {
        check_agent(path + ".agent", n->agent, path, s);
        if (!j.contains("name")) n->label = n->agent;
        attach_tools(*n, path, s);
      }
      break;
    case node_kind::pipeline: pipeline(*n, j, path, s); break;
    case node_kind::fan_out: fan_out(*n, j, path, s); break;
    case node_kind::race:
      n->kind = node_kind::race;
      branches(*n, j, path, s);
      n->max_concurrency = j.value("max_concurrency", 0);
      n->accept = acceptance_of(j.value("accept", nlohmann::json::object()), path + ".accept", s);
      break;
    case node_kind::vote:
      n->kind = node_kind::vote;
      branches(*n, j, path, s);
      n->max_concurrency = j.value("max_concurrency", 0);
      n->vote = vote_rules_of(j, path, s);
      break;
    case node_kind::fallback:
      n->kind = node_kind::fallback;
      branches(*n, j, path, s);
      break;
    case node_kind::dag: dag(*n, j, path, s); break;
    case node_kind::plan: plan(*n, j, path, s); break;
    case node_kind::tree: tree(*n, j, path, s); break;
    case node_kind::loop: loop(*n, j, path, s); break;
    case node_kind::simulation: simulation(*n, j, path, s); break;
    case node_kind::tool_loop: break;
  }
  return n;
}

// An agent that a pattern runs for itself (a judge, a planner, a fold step).
std::shared_ptr<workflow_node> workflow_loader::helper(const std::string& agent, const std::string& path, const std::string& label,
                const scope& s) {
  auto n = std::make_shared<workflow_node>();
  n->agent = agent;
  n->json_path = path;
  n->label = label;
  check_agent(path, agent, path, s);
  attach_tools(*n, path, s);
  return n;
}

// An llm agent with tools runs as a tool loop: children[0] answers each turn, then
// children[1 + i] answers each call of tools[i]. Its templates see the caller's names
// and the call's arguments (also as item: a C++ tool's default input).
void workflow_loader::attach_tools(workflow_node& n, const std::string& where, const scope& s, int depth) {
  auto it = spec_.agents.find(n.agent);
  // Deeper than any sane use: only a circle of calls (reported with the agents) gets here.
  if (it == spec_.agents.end() || it->second.tools.empty() || depth > 16) return;
  const auto& agent = it->second;
  n.kind = node_kind::tool_loop;
  n.max_concurrency = agent.max_tool_concurrency;
  auto turn = std::make_shared<workflow_node>();
  turn->agent = agent.name;
  turn->json_path = n.json_path;
  turn->label = "turn";
  n.children.push_back(std::move(turn));
  auto call_scope = with(s, {"arguments", "item"});
  for (size_t i = 0; i < agent.tools.size(); ++i) {
    const auto& use = agent.tools[i];
    auto at = "$.agents." + agent.name + ".tools[" + std::to_string(i) + "]";
    std::shared_ptr<workflow_node> call;
    if (!use.workflow.is_null()) {
      call = node(use.workflow, at + ".workflow", use.name, call_scope);
    } else {
      call = std::make_shared<workflow_node>();
      call->agent = use.agent;
      call->json_path = at;
      if (spec_.agents.count(use.agent)) {  // an unknown one is reported with the agent
        check_agent(at, use.agent, where + " (as a tool of " + agent.name + ")", call_scope);
        attach_tools(*call, where, call_scope, depth + 1);
      }
    }
    call->label = use.name;
    if (use.timeout_ms > 0) call->timeout_ms = use.timeout_ms;
    if (use.retry.max_attempts > 1) call->retry = use.retry;
    n.children.push_back(std::move(call));
  }
}

// "gpu", ["gpu", "browser"] or {"gpu": 2}: declared resources, each within capacity.
resource_needs workflow_loader::needs_of(const nlohmann::json& j, const std::string& path) {
  std::vector<std::pair<std::string, int>> wanted;
  if (j.is_string()) wanted.emplace_back(j.get<std::string>(), 1);
  if (j.is_array())
    for (auto& name : j) wanted.emplace_back(name.get<std::string>(), 1);
  if (j.is_object())
    for (auto& [name, amount] : j.items()) wanted.emplace_back(name, amount.get<int>());
  resource_needs needs;
  for (auto& [name, amount] : wanted) {
    const auto& names = spec_.resource_names;
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end() || name.find(':') != std::string::npos) {
      std::vector<std::string> declared;
      for (auto& n : names)
        if (n.find(':') == std::string::npos) declared.push_back(n);
      auto known = declared.empty() ? "none declared: add \"resources\": {\"" + name + "\": N}"
                                    : "declared: " + join(declared, ", ");
      problem(path, "unknown resource \"" + name + "\" (" + known + ")");
      continue;
    }
    auto pool = static_cast<size_t>(it - names.begin());
    if (amount > spec_.resource_capacity[pool])
      problem(path, "needs " + std::to_string(amount) + " of \"" + name + "\", whose capacity is " +
                        std::to_string(spec_.resource_capacity[pool]) + ": it could never start");
    needs.push_back({pool, amount});
  }
  return needs;
}

// The agent exists and every {{reference}} it uses is bound at `where`.
void workflow_loader::check_agent(const std::string& path, const std::string& name, const std::string& where,
                 const scope& outer) {
  auto it = spec_.agents.find(name);
  if (it == spec_.agents.end()) {
    std::vector<std::string> known;
    for (auto& kv : spec_.agents) known.push_back(kv.first);
    problem(path, "unknown agent \"" + name + "\" (defined: " + join(known, ", ") + ")");
    return;
  }
  const auto& a = it->second;
  if (!a.placement && !placing_.empty() && placing_.back()->kind == placement_rule::where::labels &&
      runs_on_head_only(a))
    problem(where, "the agent \"" + name + "\" runs on the head only (an external, coordinating, detached, pooled "
                   "or MCP agent): the placement by labels above it cannot apply (say \"placement\": \"local\" "
                   "on the agent)");
  // An agent on the bus sees what it received.
  const auto& s = a.coordination.enabled ? with(outer, {"messages"}) : outer;
  auto check = [&](const std::string& field, const std::string& tmpl) {
    std::vector<template_ref> refs;
    try {
      refs = template_refs(tmpl);
    } catch (const template_error&) {
      return;  // reported with the agent
    }
    for (const auto& r : refs) {
      const auto& root = r.segments[0];
      if (!s.count(root)) {
        problem("$.agents." + name + "." + field, "{{" + r.text + "}} is not bound where this agent runs (" +
                                                      where + "); bound there: " + describe(s));
      } else if (root == "deps" && r.segments.size() > 1 && !s.count("deps.*") &&
                 !s.count("deps." + r.segments[1])) {
        problem("$.agents." + name + "." + field, "{{" + r.text + "}}: \"" + r.segments[1] +
                                                      "\" is not a dependency of the DAG node at " + where);
      }
    }
  };
  check("system", a.system);
  check("prompt", a.prompt);
  std::vector<std::string> strings;
  collect_strings(a.input, strings);
  for (auto& str : strings) check("input", str);
}

void workflow_loader::collect_strings(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_string()) out.push_back(j.get<std::string>());
  if (j.is_structured())
    for (auto& v : j) collect_strings(v, out);
}

// The same task to several agents or sub-workflows: "agents" or "branches".
void workflow_loader::branches(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
  if (j.contains("agents") == j.contains("branches")) {
    problem(path, "needs exactly one of \"agents\" (names) or \"branches\" (workflow nodes)");
    return;
  }
  std::vector<std::shared_ptr<workflow_node>> kids;
  if (j.contains("agents")) {
    auto names = j["agents"].get<std::vector<std::string>>();
    for (size_t i = 0; i < names.size(); ++i)
      kids.push_back(helper(names[i], path + ".agents[" + std::to_string(i) + "]", names[i], s));
  } else {
    const auto& bs = j["branches"];
    for (size_t i = 0; i < bs.size(); ++i) {
      auto idx = std::to_string(i);
      kids.push_back(node(bs[i], path + ".branches[" + idx + "]", "branch" + idx, s));
    }
  }
  // The same label twice (five voters of one agent): number them all, so paths differ.
  std::set<std::string> labels;
  for (auto& k : kids) labels.insert(k->label);
  for (size_t i = 0; i < kids.size(); ++i) {
    if (labels.size() != kids.size()) kids[i]->label += "[" + std::to_string(i) + "]";
    n.children.push_back(kids[i]);
  }
  if (n.children.empty()) problem(path, "needs at least one branch");
}

// What runs for each item or iteration: an agent ("agent") or any node ("do").
node_ptr workflow_loader::body(const nlohmann::json& j, const std::string& path, const std::string& what, const scope& s) {
  if (j.contains("agent") == j.contains("do")) {
    problem(path, what + " needs exactly one of \"agent\" or \"do\"");
    return nullptr;
  }
  if (j.contains("do")) return node(j["do"], path + ".do", "do", s);
  auto name = j["agent"].get<std::string>();
  return helper(name, path + ".agent", name, s);
}

void workflow_loader::check_over(const std::string& path, const std::string& over, const scope& s) {
  std::vector<template_ref> refs;
  try {
    refs = template_refs("{{" + over + "}}");
  } catch (const template_error& e) {
    problem(path, std::string("bad path: ") + e.what());
    return;
  }
  const auto& root = refs[0].segments[0];
  if (!s.count(root)) {
    problem(path, "\"" + root + "\" is not bound here; bound: " + describe(s));
    return;
  }
  if (root != "input") return;  // other values are only known at run time
  const auto* v = input_value(*spec_.input, over);
  if (!v) problem(path, "\"" + over + "\" is not in the input");
  else if (!v->is_array()) problem(path, "\"" + over + "\" must be an array, is " + v->type_name());
}

// Case-insensitive, as the sim model's rules; an empty text matches everything.
cohort::regex workflow_loader::compile(const std::string& path, const std::string& text) {
  if (text.empty()) return {};
  try {
    return cohort::regex(text);
  } catch (const std::invalid_argument& e) {
    problem(path, std::string("bad regex: ") + e.what());
    return {};
  }
}

retry_policy workflow_loader::retry_of(const nlohmann::json& j) {
  retry_policy r;
  r.max_attempts = j.value("max_attempts", 3);  // asking for retries without a count: three tries
  r.backoff_ms = j.value("backoff_ms", r.backoff_ms);
  r.max_backoff_ms = j.value("max_backoff_ms", r.max_backoff_ms);
  if (j.contains("retry_on")) r.on = j["retry_on"].get<std::vector<std::string>>();
  return r;
}

}  // namespace cohort::detail

namespace cohort {
namespace {


// A branch holds its resources while its whole subtree runs: a node inside it that
// needs more of the same than is left could never start.
void check_nested_needs(const workflow_node& n, const scenario& spec, std::vector<int> held,
                        std::vector<std::string>& problems) {
  for (auto& need : n.needs) {
    held[need.pool] += need.amount;
    if (held[need.pool] > spec.resource_capacity[need.pool] && held[need.pool] > need.amount)
      problems.push_back(n.json_path + ".needs: \"" + spec.resource_names[need.pool] + "\" is already held by an enclosing node; with capacity " +
                         std::to_string(spec.resource_capacity[need.pool]) + " this node could never start");
  }
  for (auto& c : n.children) check_nested_needs(*c, spec, held, problems);
  if (n.each) check_nested_needs(*n.each, spec, held, problems);
}

}  // namespace

node_ptr load_workflow(const nlohmann::json& doc, const scenario& spec, std::vector<std::string>& problems) {
  auto root = detail::workflow_loader(spec, problems).node(doc, "$.workflow", "workflow", detail::scope{"input"});
  if (!spec.resource_names.empty())
    check_nested_needs(*root, spec, std::vector<int>(spec.resource_names.size(), 0), problems);
  return root;
}

}  // namespace cohort
