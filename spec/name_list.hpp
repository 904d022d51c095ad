#pragma once
// Lists of names in the loaders' messages: "a, b, c", "defined: fast, slow".
#include <string>
#include <vector>

namespace cohort {

inline std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) out += (i ? sep : "") + xs[i];
  return out;
}

// The keys of a map, for "unknown X" messages.
template <class Map>
std::string known_keys(const Map& m) {
  std::vector<std::string> keys;
  for (auto& kv : m) keys.push_back(kv.first);
  return keys.empty() ? "none defined" : "defined: " + join(keys, ", ");
}

}  // namespace cohort
