#include "models/token_estimate.hpp"

#include <algorithm>

namespace cohort {
namespace {

int64_t prompt_chars(const nlohmann::json& messages) {
  int64_t n = 0;
  if (messages.is_array())
    for (auto& m : messages)
      if (auto content = m.is_object() ? m.find("content") : m.end(); content != m.end() && content->is_string())
        n += static_cast<int64_t>(content->get_ref<const std::string&>().size());
  return n;
}

}  // namespace

int64_t estimate_tokens(const std::string& text) {
  return std::max<int64_t>(1, (static_cast<int64_t>(text.size()) + 3) / 4);
}

int64_t estimate_prompt_tokens(const nlohmann::json& messages) {
  return std::max<int64_t>(1, (prompt_chars(messages) + 3) / 4);
}

}  // namespace cohort
