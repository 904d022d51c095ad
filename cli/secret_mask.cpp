#include "cli/secret_mask.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace cohort {
namespace {

void replace_all(std::string& text, const std::string& secret) {
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + secret_mask::replacement.size()))
    text.replace(at, secret.size(), secret_mask::replacement);
}

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
         c == '/' || c == '=';
}

// "Bearer <token>" in any case: the token goes, whatever key it is.
void mask_bearer_tokens(std::string& text) {
  static constexpr std::string_view bearer = "bearer ";
  for (size_t at = 0; at + bearer.size() <= text.size(); ++at) {
    bool match = true;
    for (size_t i = 0; i < bearer.size() && match; ++i)
      match = std::tolower(static_cast<unsigned char>(text[at + i])) == bearer[i];
    if (!match) continue;
    auto start = at + bearer.size();
    auto end = start;
    while (end < text.size() && token_char(text[end])) ++end;
    if (end == start || text.compare(start, end - start, secret_mask::replacement) == 0) continue;
    text.replace(start, end - start, secret_mask::replacement);
    at = start;
  }
}

}  // namespace

secret_mask::secret_mask(const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < min_secret_length) continue;
    secrets_.push_back(s);
    // As it appears inside JSON text (quotes, backslashes and control characters escaped).
    auto escaped = nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    escaped = escaped.substr(1, escaped.size() - 2);
    if (escaped != s) secrets_.push_back(escaped);
  }
  std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
}

std::string secret_mask::apply(std::string_view text) const {
  std::string out(text);
  for (const auto& s : secrets_) replace_all(out, s);
  mask_bearer_tokens(out);
  return out;
}

}  // namespace cohort
