#pragma once
// A plan written at run time, as a DAG: what the plan pattern runs after the planner
// answered. Checked like a scenario's DAG (ids, roles, dependencies, cycles).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

// Builds the DAG a planner wrote ({"nodes": [{"id", "role", "task", "depends_on"}]} or
// the bare array) and checks it like a scenario DAG. Returns null and fills `problems`
// (worded for the planner, who is asked again) when the plan is unusable.
node_ptr build_plan_dag(const nlohmann::json& plan, const workflow_node& plan_node,
                        std::vector<std::string>& problems);

}  // namespace cohort
