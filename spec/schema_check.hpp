#pragma once
// The first checks of a scenario document, before it is read: its shape against the
// JSON Schema (config/scenario.schema.json, built in) and the range of its numbers.
// Each problem names its JSON path.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort {

// One problem for each failure, with the value found ("$.workflow.type: ... (got 3)").
void check_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems);

// The same for a node's models file: a document of "models" alone.
void check_models_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems);

// The same for a runtime config's "mcp_servers": a document of "mcp_servers" alone.
void check_mcp_servers_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems);

// Durations, counts, sizes and indices are read as 32-bit integers: a larger number
// would be cut (a timeout of 2^32 + 1 ms became 1 ms). Values passed through to a
// model or a tool ("params", an input, a seed) may be anything JSON allows.
void check_number_ranges(const nlohmann::json& v, const std::string& path, std::vector<std::string>& problems);

}  // namespace cohort
