#pragma once
// The workflow loader's reader, shared by its two files: workflow_loader.cpp (nodes,
// agents, resources, scopes) and workflow_patterns.cpp (what each pattern's keys say).
// Internal to spec/.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort::detail {

// The names a template may use at one place in the workflow. "deps.ID" entries say
// which dependency outputs a DAG node may read; "deps.*" allows any (a planned node).
using scope = std::set<std::string>;

scope with(scope s, std::initializer_list<const char*> names);
// The plain names of a scope, for messages.
std::string describe(const scope& s);

class workflow_loader {
 public:
  workflow_loader(const scenario& spec, std::vector<std::string>& problems)
      : spec_(spec), problems_(problems) {}

  // Node paths join labels with '/': a label holding one would make two paths alike.
  void check_name(const std::string& path, const std::string& name);

  std::shared_ptr<workflow_node> node(const nlohmann::json& j, const std::string& path, const std::string& label,
                const scope& outer);

  // An agent that a pattern runs for itself (a judge, a planner, a fold step).
  std::shared_ptr<workflow_node> helper(const std::string& agent, const std::string& path, const std::string& label,
                  const scope& s);

  void problem(const std::string& path, const std::string& what) { problems_.push_back(path + ": " + what); }

  // "gpu", ["gpu", "browser"] or {"gpu": 2}: declared resources, each within capacity.
  resource_needs needs_of(const nlohmann::json& j, const std::string& path);

  // An llm agent with tools becomes a tool loop over its turns and its tools' agents.
  void attach_tools(workflow_node& n, const std::string& where, const scope& s, int depth = 0);

  // The agent exists and every {{reference}} it uses is bound at `where`.
  void check_agent(const std::string& path, const std::string& name, const std::string& where,
                   const scope& outer);

  // A "retry" object; asking for retries without a count means three tries.
  static retry_policy retry_of(const nlohmann::json& j);

 private:
  static void collect_strings(const nlohmann::json& j, std::vector<std::string>& out);

  void pipeline(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  // The same task to several agents or sub-workflows: "agents" or "branches".
  void branches(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  void fan_out(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  // fan_out and dag: what failed branches do (workflow/failure_policy.hpp).
  void failure_policy_of(workflow_node& n, const nlohmann::json& j, const std::string& path);

  // What runs for each item or iteration: an agent ("agent") or any node ("do").
  node_ptr body(const nlohmann::json& j, const std::string& path, const std::string& what, const scope& s);

  void check_over(const std::string& path, const std::string& over, const scope& s);

  aggregation aggregation_of(const nlohmann::json& j, const std::string& path, const scope& s);

  // Case-insensitive, as the sim model's rules; an empty text matches everything.
  cohort::regex compile(const std::string& path, const std::string& text);

  // A DAG's outputs, by node id, unless "aggregate" says otherwise.
  aggregation by_id_unless_given(const nlohmann::json& j, const std::string& path, const scope& s);

  acceptance acceptance_of(const nlohmann::json& j, const std::string& path, const scope& s);

  vote_rules vote_rules_of(const nlohmann::json& j, const std::string& path, const scope&);

  void dag(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  void plan(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  void tree(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  void check_path(const std::string& path, const std::string& value, const scope& s);

  void loop(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  void simulation(workflow_node& n, const nlohmann::json& j, const std::string& path, const scope& s);

  const scenario& spec_;
  std::vector<std::string>& problems_;
  // The placements of the nodes being loaded, outermost first: agents inherit the last.
  std::vector<const placement_rule*> placing_;

  // Holds a node's placement (if it has one) on the stack while its subtree loads.
  struct nearest_placement {
    nearest_placement(std::vector<const placement_rule*>& stack, const placement_rule* rule)
        : stack_(rule ? &stack : nullptr) {
      if (stack_) stack_->push_back(rule);
    }
    ~nearest_placement() {
      if (stack_) stack_->pop_back();
    }
    nearest_placement(const nearest_placement&) = delete;
    nearest_placement& operator=(const nearest_placement&) = delete;
    std::vector<const placement_rule*>* stack_;
  };
};

}  // namespace cohort::detail
