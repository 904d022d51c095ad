#pragma once
// Fan-in: combining branch outputs (in input order) into one value.
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

// collect: the array itself; join: the outputs as text, separated;
// merge: objects merged shallow or deep, or arrays concatenated (concat).
// Throws std::invalid_argument when the outputs do not fit (merging a string).
nlohmann::json aggregate(const aggregation& how, const std::vector<nlohmann::json>& outputs);

// Recursive object merge: keys of `patch` win, nested objects merge.
void deep_merge(nlohmann::json& into, const nlohmann::json& patch);

}  // namespace cohort
