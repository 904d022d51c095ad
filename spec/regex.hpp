#pragma once
// Regular expressions on text from outside (model answers, prompts), with RE2: linear
// time and bounded stack on any input. std::regex recursed per character, so a 20 KB
// answer could kill the process. Case-insensitive, as scenarios have always matched.
// RE2 has no backreferences or lookaround: such a pattern is refused when compiled.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace cohort {

class regex {
 public:
  static constexpr size_t max_pattern_bytes = 16384;

  regex() = default;  // empty: matches everything
  // Throws std::invalid_argument with the reason when `pattern` cannot be compiled
  // (a syntax RE2 does not support, too long, too big once compiled).
  explicit regex(std::string pattern);

  bool empty() const { return !re_; }
  const std::string& pattern() const { return pattern_; }

  // Whether `text` contains a match.
  bool contains(std::string_view text) const;
  // The first match: [0] the whole match, then each capture group ("" when a group
  // took no part); nothing when there is no match.
  std::optional<std::vector<std::string>> search(std::string_view text) const;

 private:
  std::string pattern_;
  std::shared_ptr<const re2::RE2> re_;  // shared: scenario values are copied freely
};

}  // namespace cohort
