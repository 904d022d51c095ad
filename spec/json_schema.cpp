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

}  // namespace

json_schema::json_schema(const nlohmann::json& schema) : schema_(std::make_unique<valijson::Schema>()) {
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
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
