#pragma once
// Token counts for text whose server reports no usage (about 4 characters a token):
// the simulated model's usage, and the estimate marked as such for real endpoints.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

// Rough token count for text whose server reports no usage (about 4 characters a token).
int64_t estimate_tokens(const std::string& text);
// The same for the text contents of OpenAI chat messages.
int64_t estimate_prompt_tokens(const nlohmann::json& messages);

}  // namespace cohort
