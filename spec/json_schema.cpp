#include "spec/json_schema.hpp"

#include <set>
#include <stdexcept>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace cohort {
namespace {

bool is_index(const std::string& key) {
  return !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
}

std::string inner(const std::string& c) { return c.size() >= 2 && c.front() == '[' ? c.substr(1, c.size() - 2) : c; }

// valijson context ("<root>", "[workflow]", "[steps]", "[1]") -> "$.workflow.steps[1]"
std::string to_json_path(const std::vector<std::string>& context, const std::string& root) {
  std::string path = root;
  for (const auto& c : context) {
    if (c == "<root>") continue;
    auto key = inner(c);
    path += is_index(key) ? "[" + key + "]" : "." + key;
  }
  return path;
}

// The value a valijson context points at, for quoting it in the message.
const nlohmann::json* value_at(const nlohmann::json& doc, const std::vector<std::string>& context) {
  const nlohmann::json* cur = &doc;
  for (const auto& c : context) {
    if (c == "<root>") continue;
    auto key = inner(c);
    if (cur->is_object() && cur->contains(key)) cur = &(*cur)[key];
    else if (cur->is_array() && is_index(key) && key.size() < 10 && std::stoul(key) < cur->size())
      cur = &(*cur)[std::stoul(key)];
    else return nullptr;
  }
  return cur->is_structured() ? nullptr : cur;
}

// valijson checks "pattern", "patternProperties" and some "format"s with std::regex,
// which recurses per character: a long string from a model (or a scenario) crashed the
// process. Those keywords are left out of what valijson sees; a property that only a
// patternProperties entry allowed is then allowed by any name. Walked by keyword, so a
// property that is itself named "pattern" stays.
nlohmann::json without_regexes(const nlohmann::json& schema) {
  if (!schema.is_object()) return schema;
  static const std::set<std::string> one_schema{"items", "additionalItems", "additionalProperties", "not", "if", "then",
                                                "else", "contains", "propertyNames"};
  static const std::set<std::string> schema_lists{"allOf", "anyOf", "oneOf", "items"};
  static const std::set<std::string> schema_maps{"properties", "definitions", "$defs", "dependencies"};
  auto out = nlohmann::json::object();
  for (const auto& [key, value] : schema.items()) {
    if (key == "pattern" || key == "format" || key == "patternProperties") continue;
    if (schema_maps.count(key) && value.is_object()) {
      auto& map = out[key] = nlohmann::json::object();
      for (const auto& [name, sub] : value.items()) map[name] = without_regexes(sub);
    } else if (schema_lists.count(key) && value.is_array()) {
      auto& list = out[key] = nlohmann::json::array();
      for (const auto& sub : value) list.push_back(without_regexes(sub));
    } else if (one_schema.count(key)) {
      out[key] = without_regexes(value);
    } else {
      out[key] = value;
    }
  }
  if (schema.contains("patternProperties") && out.value("additionalProperties", nlohmann::json()) == false)
    out.erase("additionalProperties");
  return out;
}

}  // namespace

json_schema::json_schema(const nlohmann::json& schema) : schema_(std::make_unique<valijson::Schema>()) {
  try {
    valijson::SchemaParser parser;
    auto checked = without_regexes(schema);
    valijson::adapters::NlohmannJsonAdapter adapter(checked);
    parser.populateSchema(adapter, *schema_);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("not a JSON Schema cohort can read: ") + e.what());
  }
}

json_schema::~json_schema() = default;

std::shared_ptr<const json_schema> compile_schema_at(const nlohmann::json& schema, const std::string& path,
                                                     std::vector<std::string>& problems) {
  try {
    return std::make_shared<const json_schema>(schema);
  } catch (const std::invalid_argument& e) {
    problems.push_back(path + ": " + e.what());
    return nullptr;
  }
}

void json_schema::check(const nlohmann::json& value, std::vector<std::string>& problems,
                        const std::string& root) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(value);
  if (validator.validate(*schema_, adapter, &results)) return;
  valijson::ValidationResults::Error e;
  std::set<std::string> seen;
  while (results.popError(e)) {
    // valijson also reports every ancestor of a failure; the deepest line says it all.
    if (e.description.rfind("Failed to validate against schema associated with property", 0) == 0 ||
        e.description.rfind("Failed to validate item #", 0) == 0)
      continue;
    auto line = to_json_path(e.context, root) + ": " + e.description;
    if (const auto* v = value_at(value, e.context)) line += " (got " + v->dump() + ")";
    if (seen.insert(line).second) problems.push_back(line);
  }
}

}  // namespace cohort
