#include "spec/plan_dag.hpp"

#include <algorithm>
#include <cctype>

#include "spec/dag_graph.hpp"
#include "spec/name_list.hpp"

namespace cohort {

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
