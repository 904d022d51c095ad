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

}  // namespace cohort
