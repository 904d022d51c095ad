// A run's input against its scenario: the values that `over` and `instances_from` read
// from it are there, and are arrays.
#include <functional>

#include "spec/scenario.hpp"
#include "spec/template.hpp"

namespace cohort {

const nlohmann::json* input_value(const nlohmann::json& input, const std::string& path) {
  static const nlohmann::json no_bindings = nlohmann::json::object();
  return template_scope(no_bindings, input).find(template_refs("{{" + path + "}}")[0].segments);
}

void validate_input(const scenario& s, const nlohmann::json& input) {
  std::vector<std::string> problems;
  std::function<void(const workflow_node&)> walk = [&](const workflow_node& n) {
    if (n.kind == node_kind::fan_out && n.over.rfind("input", 0) == 0) {
      const auto* v = input_value(input, n.over);
      if (!v) problems.push_back(n.json_path + ".over: \"" + n.over + "\" is not in the input");
      else if (!v->is_array())
        problems.push_back(n.json_path + ".over: \"" + n.over + "\" must be an array, is " +
                           v->type_name());
    }
    for (const auto& g : n.simulation.population) {
      if (g.instances_from.rfind("input", 0) != 0) continue;
      const auto* v = input_value(input, g.instances_from);
      if (!v) problems.push_back(g.json_path + ".instances_from: \"" + g.instances_from + "\" is not in the input");
      else if (!v->is_array() || v->empty())
        problems.push_back(g.json_path + ".instances_from: \"" + g.instances_from + "\" must be a non-empty array");
    }
    for (auto& c : n.children) walk(*c);
    if (n.each) walk(*n.each);
  };
  walk(*s.workflow);
  if (!problems.empty()) throw scenario_error(s.origin + " (input)", problems);
}

}  // namespace cohort
