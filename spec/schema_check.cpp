#include "spec/schema_check.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <set>

#include "spec/json_schema.hpp"

namespace cohort {
namespace detail {
extern const char* const scenario_schema_text;  // generated from config/scenario.schema.json
}

namespace {

const json_schema& scenario_schema() {
  static const json_schema schema(nlohmann::json::parse(detail::scenario_schema_text));
  return schema;
}

// The scenario schema with `key` its one key, required.
nlohmann::json section_schema(const char* key) {
  auto doc = nlohmann::json::parse(detail::scenario_schema_text);
  doc["required"] = {key};
  doc["properties"] = {{key, doc["properties"][key]}};
  return doc;
}

const json_schema& models_schema() {
  static const json_schema schema(section_schema("models"));
  return schema;
}

const json_schema& mcp_servers_schema() {
  static const json_schema schema(section_schema("mcp_servers"));
  return schema;
}

}  // namespace

void check_models_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems) {
  models_schema().check(doc, problems);
}

void check_mcp_servers_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems) {
  mcp_servers_schema().check(doc, problems);
}

void check_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems) {
  scenario_schema().check(doc, problems);
}

void check_number_ranges(const nlohmann::json& v, const std::string& path, std::vector<std::string>& problems) {
  static const std::set<std::string> free_keys{"input", "params", "seed", "initial", "with", "parameters", "arguments", "output_schema"};
  constexpr double limit = std::numeric_limits<int32_t>::max();
  if (v.is_object()) {
    for (auto& [key, child] : v.items())
      if (!free_keys.count(key)) check_number_ranges(child, path + "." + key, problems);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) check_number_ranges(v[i], path + "[" + std::to_string(i) + "]", problems);
  } else if (v.is_number() && std::abs(v.get<double>()) > limit) {
    problems.push_back(path + ": the number " + v.dump() + " is out of range (at most 2147483647)");
  }
}

}  // namespace cohort
