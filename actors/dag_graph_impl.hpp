#pragma once
// resolve_dag, a template over how nodes are named in messages.
#include <map>

namespace cohort {

template <class Where>
std::vector<std::string> resolve_dag(const std::vector<std::string>& ids,
                                     const std::vector<std::vector<std::string>>& depends_on,
                                     Where where, dag_deps& deps) {
  std::vector<std::string> problems;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto [it, fresh] = index.emplace(ids[i], i);
    if (!fresh)
      problems.push_back(where(i) + ": duplicate id \"" + ids[i] + "\" (also " + where(it->second) + ")");
  }
  deps.assign(ids.size(), {});
  for (size_t i = 0; i < ids.size() && i < depends_on.size(); ++i) {
    for (const auto& d : depends_on[i]) {
      auto it = index.find(d);
      if (it == index.end()) {
        problems.push_back(where(i) + ": \"" + ids[i] + "\" depends on unknown node \"" + d + "\"");
      } else if (it->second == i) {
        problems.push_back(where(i) + ": \"" + ids[i] + "\" depends on itself");
      } else {
        deps[i].push_back(it->second);
      }
    }
  }
  if (problems.empty()) {
    auto cycle = find_cycle(ids, deps);
    if (!cycle.empty()) {
      std::string text;
      for (size_t k = 0; k < cycle.size(); ++k) text += (k ? " -> " : "") + cycle[k];
      problems.push_back("dependency cycle: " + text + " (each waits for the next)");
    }
  }
  return problems;
}

}  // namespace cohort
