// What each pattern's keys say: the workflow loader's readers for pipeline, fan_out,
// race and vote rules, aggregation, dag, plan, tree, loop and simulation.
#include <algorithm>

#include "spec/dag_graph.hpp"
#include "spec/name_list.hpp"
#include "spec/template.hpp"
#include "spec/workflow_reader.hpp"

namespace cohort::detail {

void workflow_loader::pipeline(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

void workflow_loader::fan_out(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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
void workflow_loader::failure_policy_of(workflow_node& n, const nlohmann::json& j, const std::string& path) {
  n.policy = parse_name_at(j.value("policy", "fail_fast"), path + ".policy", problems_, failure_mode::fail_fast);
  n.min_success = j.value("min_success", n.policy == failure_mode::fail_soft ? 1 : 0);
  if (!n.each && n.min_success > static_cast<int>(n.children.size()))
    problem(path + ".min_success", std::to_string(n.min_success) + " successes asked of " +
                                       std::to_string(n.children.size()) + " branches");
}

aggregation workflow_loader::aggregation_of(const nlohmann::json& j, const std::string& path, const scope& s) {
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

// A DAG's outputs, by node id, unless "aggregate" says otherwise.
aggregation workflow_loader::by_id_unless_given(const nlohmann::json& j, const std::string& path, const scope& s) {
  if (j.contains("aggregate")) return aggregation_of(j["aggregate"], path + ".aggregate", s);
  aggregation a;  // (vote rules, when "aggregate" is "vote", are read by the caller)
  a.kind = aggregation_kind::by_id;
  return a;
}

acceptance workflow_loader::acceptance_of(const nlohmann::json& j, const std::string& path, const scope& s) {
  acceptance a;
  a.non_empty = j.value("non_empty", true);
  a.regex = compile(path + ".regex", j.value("regex", ""));
  if (j.contains("json_fields")) a.json_fields = j["json_fields"].get<std::vector<std::string>>();
  if (j.contains("agent"))
    a.judge = helper(j["agent"].get<std::string>(), path + ".agent", "judge",
                     with(s, {"candidate", "iteration"}));
  return a;
}

vote_rules workflow_loader::vote_rules_of(const nlohmann::json& j, const std::string& path, const scope&) {
  vote_rules v;
  v.require_majority = j.value("require_majority", false);
  auto norm = j.value("normalize", nlohmann::json::object());
  v.trim = norm.value("trim", true);
  v.fold_case = norm.value("case", "fold") == "fold";
  v.field = norm.value("field", "");
  v.regex = compile(path + ".normalize.regex", norm.value("regex", ""));
  return v;
}

void workflow_loader::dag(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

void workflow_loader::plan(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

void workflow_loader::tree(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

void workflow_loader::check_path(const std::string& path, const std::string& value, const scope& s) {
  try {
    auto root = template_refs("{{" + value + "}}")[0].segments[0];
    if (!s.count(root)) problem(path, "\"" + root + "\" is not bound here; bound: " + describe(s));
  } catch (const template_error& e) {
    problem(path, std::string("bad path: ") + e.what());
  }
}

void workflow_loader::loop(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
  n.kind = node_kind::loop;
  n.max_iterations = j.value("max_iterations", n.max_iterations);
  n.keep_last = j.value("on_exhausted", "fail") == "last";
  n.each = body(j, path, "a loop", with(s, {"iteration", "previous", "feedback"}));
  if (!j.contains("until")) problem(path, "a loop needs \"until\" (when a result is good enough)");
  n.accept = acceptance_of(j.value("until", nlohmann::json::object()), path + ".until", s);
}

void workflow_loader::simulation(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s) {
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

}  // namespace cohort::detail
