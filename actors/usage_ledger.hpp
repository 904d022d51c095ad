#pragma once
// A run's model usage by agent name and by pattern (node path): llm agents and
// supervisors record their stats as they end, from any thread; the run's result
// reads the totals once it is over.
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "messages/result.hpp"

namespace cohort {

class usage_ledger {
 public:
  // Adds one agent's calls (its tokens, cost and estimated-usage count) to its name's totals.
  void add_agent(const std::string& agent, const run_stats& stats);
  // A supervisor's subtree, once, when it ends (`pattern`: fan_out, pipeline, ...).
  void add_pattern(const std::string& path, const std::string& pattern, const run_stats& stats);
  // {"agents": {name: totals}, "patterns": {path: totals + "pattern"}}, where totals are
  // {"model_calls", "prompt_tokens", "completion_tokens", "tokens", "cost", "usage_estimated_calls"}.
  nlohmann::json to_json() const;

 private:
  struct totals {
    int64_t model_calls = 0;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t usage_estimated = 0;
    double cost = 0;
    std::string pattern;
    void add(const run_stats& s);
    nlohmann::json to_json() const;
  };
  mutable std::mutex mutex_;
  std::map<std::string, totals> agents_;
  std::map<std::string, totals> patterns_;
};

}  // namespace cohort
