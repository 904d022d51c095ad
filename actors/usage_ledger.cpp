#include "actors/usage_ledger.hpp"

namespace cohort {

void usage_ledger::totals::add(const run_stats& s) {
  model_calls += s.model_calls;
  prompt_tokens += s.prompt_tokens;
  completion_tokens += s.completion_tokens;
  usage_estimated += s.usage_estimated;
  cost += s.cost;
}

nlohmann::json usage_ledger::totals::to_json() const {
  nlohmann::json j{{"model_calls", model_calls},
                   {"prompt_tokens", prompt_tokens},
                   {"completion_tokens", completion_tokens},
                   {"tokens", prompt_tokens + completion_tokens},
                   {"cost", cost},
                   {"usage_estimated_calls", usage_estimated}};
  if (!pattern.empty()) j["pattern"] = pattern;
  return j;
}

void usage_ledger::add_agent(const std::string& agent, const run_stats& stats) {
  std::lock_guard<std::mutex> lock(mutex_);
  agents_[agent].add(stats);
}

void usage_ledger::add_pattern(const std::string& path, const std::string& pattern, const run_stats& stats) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& t = patterns_[path];
  t.pattern = pattern;
  t.add(stats);
}

nlohmann::json usage_ledger::to_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json agents = nlohmann::json::object(), patterns = nlohmann::json::object();
  for (const auto& [name, t] : agents_) agents[name] = t.to_json();
  for (const auto& [path, t] : patterns_) patterns[path] = t.to_json();
  return {{"agents", std::move(agents)}, {"patterns", std::move(patterns)}};
}

}  // namespace cohort
