#include "runtime/builtin_tools.hpp"

#include <stdexcept>

#include "runtime/calculator.hpp"
#include "spec/template.hpp"
#include "workflow/aggregate.hpp"

namespace cohort {

std::map<std::string, Tool> builtin_tools() {
  std::map<std::string, Tool> tools;
  // echo: returns its input unchanged (a no-op agent for tests and benchmarks).
  tools["echo"] = [](const ToolCall& c) { return c.input; };
  // join: an array joined into text; {"items": [...], "separator": ", "} or a bare array.
  tools["join"] = [](const ToolCall& c) {
    const auto& items = c.input.is_object() ? c.input.value("items", nlohmann::json()) : c.input;
    std::string sep = c.input.is_object() ? c.input.value("separator", "\n") : "\n";
    if (!items.is_array()) throw std::invalid_argument("join needs an array, got " + std::string(items.type_name()));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + to_prompt_text(items[i]);
    return nlohmann::json(out);
  };
  // count_values: how often each value occurs at `path` in the items, e.g. a
  // simulation's world step: {"items": "{{actions}}", "path": "self.opinion"} ->
  // {"blue": 480, "red": 520}. Items without the path are not counted.
  tools["count_values"] = [](const ToolCall& c) {
    if (!c.input.is_object() || !c.input.contains("items") || !c.input["items"].is_array())
      throw std::invalid_argument("count_values needs {\"items\": [...], \"path\": \"a.b\"}");
    auto path = c.input.value("path", std::string());
    auto counts = nlohmann::json::object();
    for (const auto& item : c.input["items"]) {
      const auto* v = path.empty() ? &item : lookup(item, path);
      if (!v) continue;
      auto key = v->is_string() ? v->get<std::string>() : v->dump();
      counts[key] = counts.value(key, 0) + 1;
    }
    return counts;
  };
  // json_merge: an array of objects merged deeply, later keys winning.
  tools["json_merge"] = [](const ToolCall& c) {
    if (!c.input.is_array()) throw std::invalid_argument("json_merge needs an array of objects");
    auto out = nlohmann::json::object();
    for (size_t i = 0; i < c.input.size(); ++i) {
      if (!c.input[i].is_object())
        throw std::invalid_argument("json_merge: element " + std::to_string(i) + " is " + c.input[i].type_name());
      deep_merge(out, c.input[i]);
    }
    return out;
  };
  // concat: an array of arrays flattened one level ([[1], [2, 3]] -> [1, 2, 3]).
  tools["concat"] = [](const ToolCall& c) {
    if (!c.input.is_array()) throw std::invalid_argument("concat needs an array of arrays");
    auto out = nlohmann::json::array();
    for (size_t i = 0; i < c.input.size(); ++i) {
      if (!c.input[i].is_array())
        throw std::invalid_argument("concat: element " + std::to_string(i) + " is " + c.input[i].type_name());
      out.insert(out.end(), c.input[i].begin(), c.input[i].end());
    }
    return out;
  };
  // partition: a list split around its first element (a divide step for tree patterns):
  // {"pivot": p, "parts": [[smaller than p], [the rest]]}.
  tools["partition"] = [](const ToolCall& c) {
    if (!c.input.is_array() || c.input.empty()) throw std::invalid_argument("partition needs a non-empty array");
    const auto& pivot = c.input[0];
    auto smaller = nlohmann::json::array(), rest = nlohmann::json::array();
    for (size_t i = 1; i < c.input.size(); ++i) (c.input[i] < pivot ? smaller : rest).push_back(c.input[i]);
    return nlohmann::json{{"pivot", pivot}, {"parts", {smaller, rest}}};
  };
  // calculator: {"expression": "2 * (3 + 4)"} -> 14.
  tools["calculator"] = [](const ToolCall& c) -> nlohmann::json {
    const auto& expression = c.input.is_object() ? c.input.value("expression", nlohmann::json()) : c.input;
    if (!expression.is_string()) throw std::invalid_argument("calculator needs {\"expression\": \"...\"}");
    return evaluate_arithmetic(expression.get<std::string>());
  };
  return tools;
}

std::map<std::string, ToolInfo> builtin_tool_infos() {
  return {{"calculator",
           {"Evaluates an arithmetic expression: + - * / ^, parentheses and decimal numbers.",
            {{"type", "object"},
             {"required", {"expression"}},
             {"properties", {{"expression", {{"type", "string"}, {"description", "for example 2 * (3 + 4.5)"}}}}}}}}};
}

}  // namespace cohort
