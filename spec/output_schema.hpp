#pragma once
// Structured output: an llm agent's "output_schema" (and "max_repairs"), read where the
// scenario is loaded. A model that takes response_format json_schema gets the schema in
// its request params; any other gets it as an instruction. The answer is checked by the
// llm agent, and sent back with its problems until it matches or repairs run out.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

void read_output_schema(agent_def& d, const nlohmann::json& a, const model_def& model, const std::string& path,
                        std::vector<std::string>& problems);

// What the model is told when an answer did not match: each problem on a line.
std::string repair_request(const std::vector<std::string>& problems);

}  // namespace cohort
