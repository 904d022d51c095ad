#include "mock_llm/schema_sample.hpp"

#include <algorithm>

namespace cohort::mock_llm {
namespace {

using json = nlohmann::json;

constexpr int max_depth = 16;  // a request's schema is the client's: deep ones get null below this

std::string type_of(const json& schema) {
  auto type = schema.find("type");
  if (type == schema.end()) return schema.contains("properties") ? "object" : "string";
  if (type->is_string()) return type->get<std::string>();
  if (type->is_array())
    for (const auto& t : *type)
      if (t.is_string() && t != "null") return t.get<std::string>();
  return "null";
}

json sample(const json& schema, const std::string& text, int depth) {
  if (!schema.is_object() || depth > max_depth) return nullptr;
  if (schema.contains("const")) return schema["const"];
  if (auto e = schema.find("enum"); e != schema.end() && e->is_array() && !e->empty()) return (*e)[0];
  for (const char* key : {"anyOf", "oneOf", "allOf"})
    if (auto alt = schema.find(key); alt != schema.end() && alt->is_array() && !alt->empty())
      return sample((*alt)[0], text, depth + 1);
  auto type = type_of(schema);
  auto number_from = [&](const char* key, double otherwise) {
    auto v = schema.find(key);
    return v != schema.end() && v->is_number() ? v->get<double>() : otherwise;
  };
  if (type == "object") {
    auto out = json::object();
    if (auto props = schema.find("properties"); props != schema.end() && props->is_object())
      for (auto& [name, sub] : props->items()) out[name] = sample(sub, text, depth + 1);
    return out;
  }
  if (type == "array") {
    auto count = static_cast<size_t>(std::clamp(number_from("minItems", 1), 1.0, 8.0));
    auto items = schema.value("items", json::object());
    return json::array_t(count, sample(items, text, depth + 1));
  }
  if (type == "integer") return static_cast<int64_t>(number_from("minimum", 0));
  if (type == "number") return number_from("minimum", 0);
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  auto s = text;
  auto min_length = static_cast<size_t>(std::clamp(number_from("minLength", 0), 0.0, 4096.0));
  if (s.size() < min_length) s.append(min_length - s.size(), '.');
  return s;
}

}  // namespace

json sample_of(const json& schema, const std::string& text) { return sample(schema, text, 0); }

}  // namespace cohort::mock_llm
