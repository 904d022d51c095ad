#include "spec/dag_graph.hpp"

#include <algorithm>
#include <map>

namespace cohort {

std::vector<std::string> resolve_dag(const std::vector<std::string>& ids,
                                     const std::vector<std::vector<std::string>>& depends_on,
                                     const std::function<std::string(size_t)>& where, dag_deps& deps) {
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

std::vector<std::string> find_cycle(const std::vector<std::string>& ids, const dag_deps& deps) {
  enum : char { unseen, open, closed };
  std::vector<char> mark(deps.size(), unseen);
  std::vector<size_t> stack;  // the current chain of dependencies
  // Iterative DFS, so a deep chain of plan nodes cannot overflow the stack.
  for (size_t root = 0; root < deps.size(); ++root) {
    if (mark[root] != unseen) continue;
    std::vector<std::pair<size_t, size_t>> work{{root, 0}};  // (node, next dependency)
    mark[root] = open;
    stack.push_back(root);
    while (!work.empty()) {
      auto& [node, next] = work.back();
      if (next == deps[node].size()) {
        mark[node] = closed;
        stack.pop_back();
        work.pop_back();
        continue;
      }
      auto d = deps[node][next++];
      if (mark[d] == open) {
        std::vector<std::string> cycle;
        auto from = std::find(stack.begin(), stack.end(), d);
        for (auto it = from; it != stack.end(); ++it) cycle.push_back(ids[*it]);
        cycle.push_back(ids[d]);
        return cycle;
      }
      if (mark[d] == unseen) {
        mark[d] = open;
        stack.push_back(d);
        work.emplace_back(d, 0);
      }
    }
  }
  return {};
}

namespace {

// Nodes in an order where every node comes after its dependencies.
std::vector<size_t> topological_order(const dag_deps& deps) {
  std::vector<size_t> waiting(deps.size());
  std::vector<std::vector<size_t>> dependents(deps.size());
  for (size_t i = 0; i < deps.size(); ++i) {
    waiting[i] = deps[i].size();
    for (auto d : deps[i]) dependents[d].push_back(i);
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < deps.size(); ++i)
    if (waiting[i] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k)
    for (auto n : dependents[order[k]])
      if (--waiting[n] == 0) order.push_back(n);
  return order;
}

}  // namespace

std::vector<std::vector<size_t>> topological_layers(const dag_deps& deps) {
  std::vector<size_t> level(deps.size(), 0);
  std::vector<std::vector<size_t>> layers;
  for (auto n : topological_order(deps)) {
    for (auto d : deps[n]) level[n] = std::max(level[n], level[d] + 1);
    if (layers.size() <= level[n]) layers.resize(level[n] + 1);
    layers[level[n]].push_back(n);
  }
  for (auto& layer : layers) std::sort(layer.begin(), layer.end());
  return layers;
}

std::vector<size_t> critical_path(const dag_deps& deps, const std::vector<double>& durations) {
  const size_t none = deps.size();
  std::vector<double> finish(deps.size(), 0);
  std::vector<size_t> via(deps.size(), none);
  size_t last = none;
  for (auto n : topological_order(deps)) {
    for (auto d : deps[n])
      if (via[n] == none || finish[d] > finish[via[n]]) via[n] = d;
    double before = via[n] == none ? 0 : finish[via[n]];
    finish[n] = before + durations[n];
    if (last == none || finish[n] > finish[last]) last = n;
  }
  std::vector<size_t> path;
  for (auto n = last; n != none; n = via[n]) path.push_back(n);
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace cohort
