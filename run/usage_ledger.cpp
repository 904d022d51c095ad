#include "run/usage_ledger.hpp"

#include <algorithm>

namespace cohort {

namespace {

run_stats usage_of(const run_stats& s) {
  run_stats u;
  u.model_calls = s.model_calls;
  u.prompt_tokens = s.prompt_tokens;
  u.completion_tokens = s.completion_tokens;
  u.usage_estimated = s.usage_estimated;
  u.cost = s.cost;
  return u;
}

nlohmann::json to_json(const run_stats& u) {
  return {{"model_calls", u.model_calls},
          {"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"tokens", saturating_add(u.prompt_tokens, u.completion_tokens)},
          {"cost", u.cost},
          {"usage_estimated_calls", u.usage_estimated}};
}

}  // namespace

void usage_ledger::add_call(const std::string& agent, const std::string& path, const run_stats& usage) {
  std::string_view parent(path);
  parent = parent.substr(0, std::min(parent.size(), parent.rfind('/')));
  auto u = usage_of(usage);
  std::lock_guard<std::mutex> lock(mutex_);
  agents_[agent].add(u);
  auto it = by_parent_.find(parent);
  if (it == by_parent_.end()) it = by_parent_.emplace(std::string(parent), run_stats{}).first;
  it->second.add(u);
}

void usage_ledger::add_pattern(const std::string& path, const std::string& pattern) {
  std::lock_guard<std::mutex> lock(mutex_);
  patterns_[path] = pattern;
}

// The calls below `path`: the ordered map keeps every key that starts with `path`
// together, from which those equal to it or continuing with '/' are its subtree.
run_stats usage_ledger::under(const std::string& path) const {
  run_stats t;
  for (auto it = by_parent_.lower_bound(path); it != by_parent_.end() && it->first.compare(0, path.size(), path) == 0;
       ++it)
    if (it->first.size() == path.size() || it->first[path.size()] == '/') t.add(it->second);
  return t;
}

usage_ledger::report usage_ledger::totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  report r;
  auto agents = nlohmann::json::object(), patterns = nlohmann::json::object();
  for (const auto& [name, t] : agents_) agents[name] = to_json(t);
  for (const auto& [path, pattern] : patterns_) {
    auto t = under(path);
    if (t.model_calls == 0) continue;
    auto row = to_json(t);
    row["pattern"] = pattern;
    patterns[path] = std::move(row);
  }
  r.by_agent_and_pattern = {{"agents", std::move(agents)}, {"patterns", std::move(patterns)}};
  for (const auto& [name, t] : agents_) r.run.add(t);
  return r;
}

}  // namespace cohort
