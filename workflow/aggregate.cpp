#include "workflow/aggregate.hpp"

#include <stdexcept>

#include "spec/template.hpp"

namespace cohort {

void deep_merge(nlohmann::json& into, const nlohmann::json& patch) {
  if (!into.is_object() || !patch.is_object()) {
    into = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) deep_merge(into[it.key()], it.value());
}

nlohmann::json aggregate(const aggregation& how, const std::vector<nlohmann::json>& outputs) {
  if (how.kind == aggregation_kind::join) {
    std::string text;
    for (size_t i = 0; i < outputs.size(); ++i)
      text += (i ? how.separator : "") + to_prompt_text(outputs[i]);
    return text;
  }
  if (how.kind == aggregation_kind::merge) {
    if (how.merge == merge_mode::concat) {
      auto out = nlohmann::json::array();
      for (size_t i = 0; i < outputs.size(); ++i) {
        if (!outputs[i].is_array())
          throw std::invalid_argument("merge concat: branch " + std::to_string(i) +
                                      " returned " + outputs[i].type_name() + ", not an array");
        out.insert(out.end(), outputs[i].begin(), outputs[i].end());
      }
      return out;
    }
    auto out = nlohmann::json::object();
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].is_object())
        throw std::invalid_argument("merge " + std::string(to_string(how.merge)) + ": branch " + std::to_string(i) +
                                    " returned " + outputs[i].type_name() + ", not an object");
      if (how.merge == merge_mode::shallow) out.update(outputs[i]);
      else deep_merge(out, outputs[i]);
    }
    return out;
  }
  return nlohmann::json(outputs);  // collect
}

}  // namespace cohort
