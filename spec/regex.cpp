#include "spec/regex.hpp"

#include <stdexcept>

#include <re2/re2.h>

namespace cohort {

regex::regex(std::string pattern) : pattern_(std::move(pattern)) {
  if (pattern_.size() > max_pattern_bytes)
    throw std::invalid_argument("the pattern is " + std::to_string(pattern_.size()) + " bytes, more than the " +
                                std::to_string(max_pattern_bytes) + " allowed");
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern_, options);
  if (!re->ok())
    throw std::invalid_argument(re->error() +
                                (re->error_code() == RE2::ErrorBadPerlOp || re->error_code() == RE2::ErrorBadEscape
                                     ? " (RE2 syntax: no backreferences or lookaround)"
                                     : ""));
  re_ = std::move(re);
}

bool regex::contains(std::string_view text) const {
  return !re_ || RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

std::optional<std::vector<std::string>> regex::search(std::string_view text) const {
  if (!re_) return std::vector<std::string>{std::string()};
  const int groups = re_->NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> found(static_cast<size_t>(groups));
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED, found.data(), groups))
    return std::nullopt;
  std::vector<std::string> out;
  out.reserve(found.size());
  for (const auto& piece : found) out.emplace_back(piece.data() ? std::string(piece.data(), piece.size()) : std::string());
  return out;
}

}  // namespace cohort
