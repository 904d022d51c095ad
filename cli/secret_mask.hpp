#pragma once
// Masks secrets in text cohort prints or stores. A server may echo the API key it was
// sent in an error body (a 401, a malformed answer, an SSE error event, a tool name),
// and that text reaches results, events and logs: every output channel passes through
// one mask. It replaces each configured secret (and its JSON-escaped form) and the
// token after any "Bearer " with "***".
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

class secret_mask {
 public:
  secret_mask() = default;
  // Secrets shorter than min_secret_length are ignored: masking "abc" everywhere would
  // mangle ordinary text and protect nothing.
  explicit secret_mask(const std::vector<std::string>& secrets);

  static constexpr size_t min_secret_length = 8;
  static constexpr std::string_view replacement = "***";

  std::string apply(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  // longest first, so a secret inside another is masked whole
};

}  // namespace cohort
