#include "actors/usage_ledger.hpp"

#include <algorithm>

namespace cohort {

void usage_ledger::totals_of::add(const run_stats& s) {
  model_calls += s.model_calls;
  prompt_tokens += s.prompt_tokens;
  completion_tokens += s.completion_tokens;
  usage_estimated += s.usage_estimated;
  cost += s.cost;
}

void usage_ledger::totals_of::add(const totals_of& t) {
  model_calls += t.model_calls;
  prompt_tokens += t.prompt_tokens;
  completion_tokens += t.completion_tokens;
  usage_estimated += t.usage_estimated;
  cost += t.cost;
}

nlohmann::json usage_ledger::totals_of::to_json() const {
  return {{"model_calls", model_calls},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"tokens", prompt_tokens + completion_tokens},
          {"cost", cost},
          {"usage_estimated_calls", usage_estimated}};
}

void usage_ledger::add_call(const std::string& agent, const std::string& path, const run_stats& usage) {
  std::string_view parent(path);
  parent = parent.substr(0, std::min(parent.size(), parent.rfind('/')));
  std::lock_guard<std::mutex> lock(mutex_);
  agents_[agent].add(usage);
  auto it = by_parent_.find(parent);
  if (it == by_parent_.end()) it = by_parent_.emplace(std::string(parent), totals_of{}).first;
  it->second.add(usage);
}

void usage_ledger::add_pattern(const std::string& path, const std::string& pattern) {
  std::lock_guard<std::mutex> lock(mutex_);
  patterns_[path] = pattern;
}

// The calls below `path`: the ordered map keeps every key that starts with `path`
// together, from which those equal to it or continuing with '/' are its subtree.
usage_ledger::totals_of usage_ledger::under(const std::string& path) const {
  totals_of t;
  for (auto it = by_parent_.lower_bound(path); it != by_parent_.end() && it->first.compare(0, path.size(), path) == 0;
       ++it)
    if (it->first.size() == path.size() || it->first[path.size()] == '/') t.add(it->second);
  return t;
}

usage_ledger::report usage_ledger::totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  report r;
  auto agents = nlohmann::json::object(), patterns = nlohmann::json::object();
  for (const auto& [name, t] : agents_) agents[name] = t.to_json();
  for (const auto& [path, pattern] : patterns_) {
    auto t = under(path);
    if (t.model_calls == 0) continue;
    auto row = t.to_json();
    row["pattern"] = pattern;
    patterns[path] = std::move(row);
  }
  r.by_agent_and_pattern = {{"agents", std::move(agents)}, {"patterns", std::move(patterns)}};
  totals_of all;
  for (const auto& [name, t] : agents_) all.add(t);
  r.run.model_calls = all.model_calls;
  r.run.prompt_tokens = all.prompt_tokens;
  r.run.completion_tokens = all.completion_tokens;
  r.run.usage_estimated = all.usage_estimated;
  r.run.cost = all.cost;
  return r;
}

}  // namespace cohort
