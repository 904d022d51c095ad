#pragma once
// Loads the "workflow" tree of a scenario: every pattern node, its helper agents
// (judges, planners, split/combine steps, fold and synthesis agents), and the
// checks that every template reference is bound where the agent runs.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

// `spec` has its models, agents and input loaded. Problems are appended, each as
// "JSON path: what is wrong"; the tree is returned even when some were found.
node_ptr load_workflow(const nlohmann::json& doc, const scenario& spec, std::vector<std::string>& problems);

// Builds the DAG a planner wrote ({"nodes": [{"id", "role", "task", "depends_on"}]} or
// the bare array) and checks it like a scenario DAG. Returns null and fills `problems`
// (worded for the planner, who is asked again) when the plan is unusable.
node_ptr build_plan_dag(const nlohmann::json& plan, const workflow_node& plan_node,
                        std::vector<std::string>& problems);

}  // namespace cohort
