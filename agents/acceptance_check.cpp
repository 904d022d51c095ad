#include "agents/acceptance_check.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "messages/input_limits.hpp"
#include "spec/template.hpp"

namespace cohort {

std::string rejection(const acceptance& a, const nlohmann::json& output) {
  if (a.non_empty && (output.is_null() || (output.is_string() && output.get<std::string>().empty()) ||
                      (output.is_structured() && output.empty())))
    return "empty result";
  if (!a.regex.empty() && !a.regex.contains(to_prompt_text(output)))
    return "does not match /" + a.regex.pattern() + "/";
  if (!a.json_fields.empty()) {
    auto value = output;
    if (value.is_string()) value = parse_untrusted_json_or_discarded(value.get<std::string>());
    if (!value.is_object()) return "not a JSON object (needs fields: " + a.json_fields.front() + ", ...)";
    for (const auto& f : a.json_fields)
      if (!value.contains(f)) return "missing JSON field \"" + f + "\"";
  }
  return {};
}

verdict read_verdict(const nlohmann::json& answer) {
  // A judge without JSON output may still answer {"valid": false, ...} as text.
  auto out = answer;
  if (out.is_string()) {
    auto parsed = parse_untrusted_json_or_discarded(out.get<std::string>());
    if (parsed.is_object() || parsed.is_boolean()) out = std::move(parsed);
  }
  if (out.is_boolean()) return {out.get<bool>(), {}};
  if (out.is_object()) {
    std::string feedback;
    for (const char* key : {"feedback", "reason"})
      if (out.contains(key) && feedback.empty()) feedback = to_prompt_text(out[key]);
    for (const char* key : {"valid", "pass", "accept", "ok"})
      if (out.contains(key) && out[key].is_boolean()) return {out[key].get<bool>(), feedback};
    return {false, feedback.empty() ? out.dump() : feedback};
  }
  auto text = to_prompt_text(out);
  std::string word;
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!word.empty()) break;
  }
  static const std::set<std::string> yes{"yes", "valid", "pass", "passed", "accept", "accepted",
                                         "approve", "approved", "true", "ok", "correct"};
  return {yes.count(word) > 0, text};
}

}  // namespace cohort
