#include "spec/schema_check.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <set>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace cohort {
namespace detail {
extern const char* const scenario_schema_text;  // generated from config/scenario.schema.json
}

namespace {

// valijson context ("<root>", "[workflow]", "[steps]", "[1]") -> "$.workflow.steps[1]"
std::string to_json_path(const std::vector<std::string>& context) {
  std::string path = "$";
  for (const auto& c : context) {
    if (c == "<root>") continue;
    auto inner = c.size() >= 2 && c.front() == '[' ? c.substr(1, c.size() - 2) : c;
    bool index = !inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos;
    path += index ? "[" + inner + "]" : "." + inner;
  }
  return path;
}

// The value a valijson context points at, for quoting it in the message.
const nlohmann::json* value_at(const nlohmann::json& doc, const std::vector<std::string>& context) {
  const nlohmann::json* cur = &doc;
  for (const auto& c : context) {
    if (c == "<root>") continue;
    auto key = c.size() >= 2 && c.front() == '[' ? c.substr(1, c.size() - 2) : c;
    if (cur->is_object() && cur->contains(key)) cur = &(*cur)[key];
    else if (cur->is_array() && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos &&
             std::stoul(key) < cur->size())
      cur = &(*cur)[std::stoul(key)];
    else return nullptr;
  }
  return cur->is_structured() ? nullptr : cur;
}

const valijson::Schema& scenario_schema() {
  static const std::unique_ptr<valijson::Schema> schema = [] {
    auto s = std::make_unique<valijson::Schema>();
    auto doc = nlohmann::json::parse(detail::scenario_schema_text);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, *s);
    return s;
  }();
  return *schema;
}

}  // namespace

void check_against_schema(const nlohmann::json& doc, std::vector<std::string>& problems) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  if (validator.validate(scenario_schema(), adapter, &results)) return;
  valijson::ValidationResults::Error e;
  std::set<std::string> seen;
  while (results.popError(e)) {
    // valijson also reports every ancestor of a failure; the deepest line says it all.
    if (e.description.rfind("Failed to validate against schema associated with property", 0) == 0 ||
        e.description.rfind("Failed to validate item #", 0) == 0)
      continue;
    auto line = to_json_path(e.context) + ": " + e.description;
    if (const auto* v = value_at(doc, e.context)) line += " (got " + v->dump() + ")";
    if (seen.insert(line).second) problems.push_back(line);
  }
}

void check_number_ranges(const nlohmann::json& v, const std::string& path, std::vector<std::string>& problems) {
  static const std::set<std::string> free_keys{"input", "params", "seed", "initial", "with"};
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
