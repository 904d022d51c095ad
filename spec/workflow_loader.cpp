#include "spec/workflow_loader.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "spec/dag_graph.hpp"
#include "spec/template.hpp"

namespace cohort {
namespace {

std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) out += (i ? sep : "") + xs[i];
  return out;
}

// The names a template may use at one place in the workflow. "deps.ID" entries say
// which dependency outputs a DAG node may read; "deps.*" allows any (a planned node).
using scope = std::set<std::string>;

scope with(scope s, std::initializer_list<const char*> names) {
  for (auto n : names) s.insert(n);
  return s;
}

std::string describe(const scope& s) {
  std::vector<std::string> names;
  for (auto& n : s)
    if (n.find('.') == std::string::npos) names.push_back(n);
  return join(names, ", ");
}

class workflow_loader {
 public:
  workflow_loader(const scenario& spec, std::vector<std::string>& problems)
      : spec_(spec), problems_(problems) {}

  // Node paths join labels with '/': a label holding one would make two paths alike.
  void check_name(const std::string& path, const std::string& name) {
    if (name.find('/') != std::string::npos)
      problem(path, "\"" + name + "\" contains '/', which separates the parts of a node path");
  }

  std::shared_ptr<workflow_node> node(const nlohmann::json& j, const std::string& path, const std::string& label,
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
    if (!kind) {
      problem(path + ".type", type.empty() ? "missing key \"type\" (" + all_names<node_kind>() + ")"
                                           : "unknown workflow type \"" + type + "\" (" + all_names<node_kind>() + ")");
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
    }
    return n;
  }

  // An agent that a pattern runs for itself (a judge, a planner, a fold step).
  std::shared_ptr<workflow_node> helper(const std::string& agent, const std::string& path, const std::string& label,
                  const scope& s) {
    auto n = std::make_shared<workflow_node>();
    n->agent = agent;
    n->json_path = path;
    n->label = label;
    check_agent(path, agent, path, s);
    return n;
  }

  void problem(const std::string& path, const std::string& what) { problems_.push_back(path + ": " + what); }

  // "gpu", ["gpu", "browser"] or {"gpu": 2}: declared resources, each within capacity.
  resource_needs needs_of(const nlohmann::json& j, const std::string& path) {
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
  void check_agent(const std::string& path, const std::string& name, const std::string& where,
                   const scope& outer) {
    auto it = spec_.agents.find(name);
    if (it == spec_.agents.end()) {
      std::vector<std::string> known;
      for (auto& kv : spec_.agents) known.push_back(kv.first);
      problem(path, "unknown agent \"" + name + "\" (defined: " + join(known, ", ") + ")");
      return;
    }
    const auto& a = it->second;
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

 private:
  static void collect_strings(const nlohmann::json& j, std::vector<std::string>& out) {
    if (j.is_string()) out.push_back(j.get<std::string>());
    if (j.is_structured())
      for (auto& v : j) collect_strings(v, out);
  }

  void pipeline(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::pipeline;
    if (!j.contains("steps") || !j["steps"].is_array() || j["steps"].empty()) {
      problem(path + ".steps", "a pipeline needs a non-empty array of steps");
      return;
    }
    for (size_t i = 0; i < j["steps"].size(); ++i) {
      auto idx = std::to_string(i);
      n.children.push_back(node(j["steps"][i], path + ".steps[" + idx + "]", "step" + idx,
                                i > 0 ? with(s, {"results"}) : s));
    }
  }

  // The same task to several agents or sub-workflows: "agents" or "branches".
  void branches(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

  void fan_out(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::fan_out;
    n.max_concurrency = j.value("max_concurrency", 0);
    if (j.contains("over")) {
      if (j.contains("agents") || j.contains("branches")) {
        problem(path, "a fan_out has either \"over\" or \"agents\"/\"branches\", not both");
        return;
      }
      n.over = j["over"].get<std::string>();
      check_over(path + ".over", n.over, s);
      n.each = body(j, path, "a fan_out over items", with(s, {"item", "index"}));
    } else {
      branches(n, j, path, s);
    }
    n.aggregate = aggregation_of(j.value("aggregate", nlohmann::json("collect")), path + ".aggregate", s);
    if (n.aggregate.kind == aggregation_kind::vote) n.vote = vote_rules_of(j, path, s);
    failure_policy_of(n, j, path);
  }

  // fan_out and dag: what failed branches do (workflow/failure_policy.hpp).
  void failure_policy_of(workflow_node& n, const nlohmann::json& j, const std::string& path) {
    n.policy = parse_name_at(j.value("policy", "fail_fast"), path + ".policy", problems_, failure_mode::fail_fast);
    n.min_success = j.value("min_success", n.policy == failure_mode::fail_soft ? 1 : 0);
    if (!n.each && n.min_success > static_cast<int>(n.children.size()))
      problem(path + ".min_success", std::to_string(n.min_success) + " successes asked of " +
                                         std::to_string(n.children.size()) + " branches");
  }

  // What runs for each item or iteration: an agent ("agent") or any node ("do").
  node_ptr body(const nlohmann::json& j, const std::string& path, const std::string& what, const scope& s) {
    if (j.contains("agent") == j.contains("do")) {
      problem(path, what + " needs exactly one of \"agent\" or \"do\"");
      return nullptr;
    }
    if (j.contains("do")) return node(j["do"], path + ".do", "do", s);
    auto name = j["agent"].get<std::string>();
    return helper(name, path + ".agent", name, s);
  }

  void check_over(const std::string& path, const std::string& over, const scope& s) {
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

  aggregation aggregation_of(const nlohmann::json& j, const std::string& path, const scope& s) {
    aggregation a;
    auto kind = j.is_string() ? j.get<std::string>() : j.value("type", "");
    a.kind = parse_name_at(kind, path, problems_, aggregation_kind::collect);
    if (j.is_object()) {
      a.separator = j.value("separator", a.separator);
      a.merge = parse_name_at(j.value("mode", "deep"), path + ".mode", problems_, merge_mode::deep);
      if (j.contains("initial")) a.reduce_initial = j["initial"];
    }
    auto agent = j.is_object() ? j.value("agent", "") : "";
    if (a.kind == aggregation_kind::reduce || a.kind == aggregation_kind::synthesize) {
      if (agent.empty()) {
        problem(path, kind + " needs {\"type\": \"" + kind + "\", \"agent\": NAME}");
      } else {
        auto fold_scope =
            a.kind == aggregation_kind::reduce ? with(s, {"acc", "item", "index", "results"}) : with(s, {"results"});
        a.agent = helper(agent, path + ".agent", kind, fold_scope);
      }
    }
    return a;
  }

  // Case-insensitive, as the sim model's rules; an empty text matches everything.
  cohort::regex compile(const std::string& path, const std::string& text) {
    if (text.empty()) return {};
    try {
      return cohort::regex(text);
    } catch (const std::invalid_argument& e) {
      problem(path, std::string("bad regex: ") + e.what());
      return {};
    }
  }

  static retry_policy retry_of(const nlohmann::json& j) {
    retry_policy r;
    r.max_attempts = j.value("max_attempts", 3);  // asking for retries without a count: three tries
    r.backoff_ms = j.value("backoff_ms", r.backoff_ms);
    r.max_backoff_ms = j.value("max_backoff_ms", r.max_backoff_ms);
    if (j.contains("retry_on")) r.on = j["retry_on"].get<std::vector<std::string>>();
    return r;
  }

  // A DAG's outputs, by node id, unless "aggregate" says otherwise.
  aggregation by_id_unless_given(const nlohmann::json& j, const std::string& path, const scope& s) {
    if (j.contains("aggregate")) return aggregation_of(j["aggregate"], path + ".aggregate", s);
    aggregation a;  // (vote rules, when "aggregate" is "vote", are read by the caller)
    a.kind = aggregation_kind::by_id;
    return a;
  }

  acceptance acceptance_of(const nlohmann::json& j, const std::string& path, const scope& s) {
    acceptance a;
    a.non_empty = j.value("non_empty", true);
    a.regex = compile(path + ".regex", j.value("regex", ""));
    if (j.contains("json_fields")) a.json_fields = j["json_fields"].get<std::vector<std::string>>();
    if (j.contains("agent"))
      a.judge = helper(j["agent"].get<std::string>(), path + ".agent", "judge",
                       with(s, {"candidate", "iteration"}));
    return a;
  }

  vote_rules vote_rules_of(const nlohmann::json& j, const std::string& path, const scope&) {
    vote_rules v;
    v.require_majority = j.value("require_majority", false);
    auto norm = j.value("normalize", nlohmann::json::object());
    v.trim = norm.value("trim", true);
    v.fold_case = norm.value("case", "fold") == "fold";
    v.field = norm.value("field", "");
    v.regex = compile(path + ".normalize.regex", norm.value("regex", ""));
    return v;
  }

  void dag(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::dag;
    n.max_concurrency = j.value("max_concurrency", 0);
    const auto& nodes = j.value("nodes", nlohmann::json::array());
    if (nodes.empty()) {
      problem(path + ".nodes", "a dag needs a non-empty array of nodes");
      return;
    }
    std::vector<std::vector<std::string>> depends_on;
    for (size_t i = 0; i < nodes.size(); ++i) {
      n.ids.push_back(nodes[i].value("id", ""));
      check_name(path + ".nodes[" + std::to_string(i) + "].id", n.ids.back());
      depends_on.push_back(nodes[i].value("depends_on", std::vector<std::string>{}));
    }
    auto where = [&](size_t i) { return path + ".nodes[" + std::to_string(i) + "]"; };
    for (auto& p : resolve_dag(n.ids, depends_on, where, n.deps))
      problems_.push_back(p.rfind("dependency cycle", 0) == 0 ? path + ".nodes: " + p : p);
    if (n.deps.size() != nodes.size()) n.deps.assign(nodes.size(), {});
    for (size_t i = 0; i < nodes.size(); ++i) {
      // An enclosing DAG's dependencies are not this one's: its {{deps}} replaces theirs.
      auto node_scope = s;
      for (auto it = node_scope.begin(); it != node_scope.end();)
        it = it->rfind("deps.", 0) == 0 ? node_scope.erase(it) : std::next(it);
      node_scope.insert("deps");  // bound in every DAG node, {} without dependencies
      for (auto& d : depends_on[i]) node_scope.insert("deps." + d);
      auto body = nodes[i];
      body.erase("id");
      body.erase("depends_on");
      n.children.push_back(node(body, where(i), n.ids[i], node_scope));
    }
    failure_policy_of(n, j, path);
    n.output_of = j.value("output", "");
    if (!n.output_of.empty() && std::find(n.ids.begin(), n.ids.end(), n.output_of) == n.ids.end())
      problem(path + ".output", "no node with id \"" + n.output_of + "\"");
    n.aggregate = by_id_unless_given(j, path, s);
    if (n.aggregate.kind == aggregation_kind::vote) n.vote = vote_rules_of(j, path, s);
  }

  void plan(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::plan;
    n.max_concurrency = j.value("max_concurrency", 0);
    auto& p = n.plan;
    p.max_attempts = j.value("max_attempts", p.max_attempts);
    p.max_nodes = j.value("max_nodes", p.max_nodes);
    n.policy = parse_name_at(j.value("policy", "fail_fast"), path + ".policy", problems_, failure_mode::fail_fast);  // for the DAG it plans
    n.min_success = j.value("min_success", n.policy == failure_mode::fail_soft ? 1 : 0);
    p.planner = helper(j.value("planner", ""), path + ".planner", "planner", with(s, {"feedback", "attempt"}));
    p.roles = j.value("roles", std::vector<std::string>{});
    auto role_scope = with(s, {"task", "role", "deps", "deps.*"});
    for (size_t i = 0; i < p.roles.size(); ++i)
      helper(p.roles[i], path + ".roles[" + std::to_string(i) + "]", p.roles[i], role_scope);
    n.aggregate = by_id_unless_given(j, path, s);
    if (n.aggregate.kind == aggregation_kind::vote) n.vote = vote_rules_of(j, path, s);
  }

  void tree(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::tree;
    auto& t = n.tree;
    t.problem = j.value("problem", "input");
    check_path(path + ".problem", t.problem, s);
    t.max_depth = j.value("max_depth", t.max_depth);
    t.base_max_size = j.value("base_max_size", t.base_max_size);
    n.max_concurrency = j.value("max_concurrency", 0);
    auto level = with(s, {"item", "depth"});
    t.split = helper(j.value("split", ""), path + ".split", "split", level);
    t.combine = helper(j.value("combine", ""), path + ".combine", "combine", with(level, {"results", "split"}));
    if (j.contains("leaf")) t.leaf = helper(j["leaf"].get<std::string>(), path + ".leaf", "leaf", level);
  }

  void check_path(const std::string& path, const std::string& value, const scope& s) {
    try {
      auto root = template_refs("{{" + value + "}}")[0].segments[0];
      if (!s.count(root)) problem(path, "\"" + root + "\" is not bound here; bound: " + describe(s));
    } catch (const template_error& e) {
      problem(path, std::string("bad path: ") + e.what());
    }
  }

  void loop(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::loop;
    n.max_iterations = j.value("max_iterations", n.max_iterations);
    n.keep_last = j.value("on_exhausted", "fail") == "last";
    n.each = body(j, path, "a loop", with(s, {"iteration", "previous", "feedback"}));
    if (!j.contains("until")) problem(path, "a loop needs \"until\" (when a result is good enough)");
    n.accept = acceptance_of(j.value("until", nlohmann::json::object()), path + ".until", s);
  }

  void simulation(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
    n.kind = node_kind::simulation;
    n.max_concurrency = j.value("max_concurrency", 0);
    n.policy = parse_name_at(j.value("policy", "fail_fast"), path + ".policy", problems_, failure_mode::fail_fast);
    if (n.policy == failure_mode::all_settled) problem(path + ".policy", "a simulation is fail_fast or fail_soft");
    auto& sim = n.simulation;
    sim.rounds = j.value("rounds", sim.rounds);
    sim.seed = j.value("seed", sim.seed);
    sim.world = j.value("world", sim.world);
    sim.topology = j.value("topology", sim.topology);
    sim.degree = j.value("degree", sim.degree);
    sim.transcript = j.value("transcript", sim.transcript);
    auto stop = j.value("stop_when", nlohmann::json::object());
    sim.stop_on_agreement = stop.value("agree", false);
    sim.agree_field = stop.value("field", "");
    auto acting = with(s, {"round", "self", "messages", "world", "seed"});
    const auto& groups = j["population"];
    for (size_t g = 0; g < groups.size(); ++g) {
      auto at = path + ".population[" + std::to_string(g) + "]";
      const auto& gj = groups[g];
      population_group group;
      group.json_path = at;
      auto agent = gj["agent"].get<std::string>();
      group.agent = helper(agent, at + ".agent", agent, acting);
      group.count = gj.value("count", 1);
      group.name = gj.value("name", "");
      check_name(at + ".name", group.name);
      group.vars = gj.value("vars", group.vars);
      if (gj.contains("instances")) group.instances = gj["instances"];
      group.instances_from = gj.value("instances_from", "");
      if (!group.instances.is_null() + !group.instances_from.empty() + gj.contains("count") > 1)
        problem(at, "give one of \"count\", \"instances\" or \"instances_from\"");
      if (!group.instances_from.empty()) check_path(at + ".instances_from", group.instances_from, s);
      try {
        for (const auto& r : template_refs(group.name))
          if (r.segments[0] != "index" && r.segments[0] != "vars")
            problem(at + ".name", "{{" + r.text + "}}: a name sees only {{index}} and {{vars...}}");
      } catch (const template_error& e) {
        problem(at + ".name", std::string("bad template: ") + e.what());
      }
      sim.population.push_back(std::move(group));
    }
    if (j.contains("world_step"))
      sim.world_step = helper(j["world_step"].get<std::string>(), path + ".world_step", "world",
                              with(s, {"round", "world", "actions"}));
    if ((sim.topology == "ring" || sim.topology == "random") && sim.degree < 1)
      problem(path + ".degree", "a " + sim.topology + " topology needs a degree of at least 1");
  }

  const scenario& spec_;
  std::vector<std::string>& problems_;
};

}  // namespace

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
  auto root = workflow_loader(spec, problems).node(doc, "$.workflow", "workflow", scope{"input"});
  if (!spec.resource_names.empty())
    check_nested_needs(*root, spec, std::vector<int>(spec.resource_names.size(), 0), problems);
  return root;
}

node_ptr build_plan_dag(const nlohmann::json& plan, const workflow_node& plan_node,
                        std::vector<std::string>& problems) {
  // {"nodes": [...]}, {"agents": [...]} (the coordinator's own word), or the bare array.
  const auto& nodes = !plan.is_object() ? plan : plan.contains("nodes") ? plan["nodes"] : plan.value("agents", nlohmann::json());
  if (!nodes.is_array() || nodes.empty()) {
    problems.push_back("the plan must be {\"nodes\": [...]} (or an array of nodes) with at least one node");
    return nullptr;
  }
  const auto& rules = plan_node.plan;
  if (nodes.size() > static_cast<size_t>(rules.max_nodes)) {
    problems.push_back("the plan has " + std::to_string(nodes.size()) + " nodes; at most " +
                       std::to_string(rules.max_nodes) + " are allowed");
    return nullptr;
  }
  auto dag = std::make_shared<workflow_node>();
  dag->kind = node_kind::dag;
  dag->json_path = plan_node.json_path + " (plan)";
  dag->label = "dag";
  dag->max_concurrency = plan_node.max_concurrency;
  dag->aggregate = plan_node.aggregate;
  dag->policy = plan_node.policy;
  dag->min_success = plan_node.min_success;
  auto as_id = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  std::vector<std::vector<std::string>> depends_on(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& pn = nodes[i];
    auto where = "node " + std::to_string(i);
    if (!pn.is_object()) {
      problems.push_back(where + ": not an object");
      continue;
    }
    dag->ids.push_back(pn.contains("id") ? as_id(pn["id"]) : std::to_string(i));
    if ((pn.contains("role") && !pn["role"].is_string()) || (pn.contains("task") && !pn["task"].is_string())) {
      problems.push_back(where + ": \"role\" and \"task\" must be strings");
      continue;
    }
    auto role = pn.value("role", "");
    // Planners shout roles ("RESEARCHER"): match them regardless of case.
    auto same = [&](const std::string& r) {
      return r.size() == role.size() && std::equal(r.begin(), r.end(), role.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
             });
    };
    auto found = std::find_if(rules.roles.begin(), rules.roles.end(), same);
    bool known = found != rules.roles.end();
    if (known) role = *found;
    if (!known) problems.push_back(where + ": unknown role \"" + role + "\" (roles: " + join(rules.roles, ", ") + ")");
    auto deps = pn.value("depends_on", nlohmann::json::array());
    if (!deps.is_array()) problems.push_back(where + ": depends_on must be an array");
    else
      for (auto& d : deps) depends_on[i].push_back(as_id(d));
    auto leaf = std::make_shared<workflow_node>();
    leaf->agent = known ? role : std::string();
    leaf->json_path = dag->json_path + ".nodes[" + std::to_string(i) + "]";
    leaf->label = dag->ids.back();
    leaf->with = {{"task", pn.value("task", "")}, {"role", role}};
    dag->children.push_back(std::move(leaf));
  }
  if (!problems.empty()) return nullptr;
  auto where = [&](size_t i) { return "node " + std::to_string(i) + " (\"" + dag->ids[i] + "\")"; };
  for (auto& p : resolve_dag(dag->ids, depends_on, where, dag->deps)) problems.push_back(p);
  return problems.empty() ? dag : nullptr;
}

}  // namespace cohort
