#pragma once
// What a scenario submitted over the network may not do that a local file may: read
// an environment variable the node's config does not allow (an API key is the node's
// secret, not the client's to send anywhere), or read a local file (ca_file).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/api_error.hpp"

namespace cohort::node {

// Every problem, with its JSON path; empty when the scenario may run here.
std::vector<problem> check_submitted_scenario(const nlohmann::json& doc, const std::vector<std::string>& allowed_key_env);

// "path: message" (the loader's wording) as a problem.
problem problem_from(const std::string& line);

}  // namespace cohort::node
