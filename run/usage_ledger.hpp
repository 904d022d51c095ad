#pragma once
// A run's model usage, the one account of it: every answered model call is entered
// once, when its answer reaches its agent, from any thread. The totals by agent, by
// pattern (the calls under a node's path) and for the run all come from these
// entries, so they agree, and a call whose branch then timed out or was cancelled
// (made and paid for all the same) counts in each.
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "messages/result.hpp"

namespace cohort {

class usage_ledger {
 public:
  // One call of `agent`, for the task at `path`: its model_calls, tokens, cost and
  // estimated-usage count (the other fields of `usage` are not read).
  void add_call(const std::string& agent, const std::string& path, const run_stats& usage);
  // A supervisor at `path` (`pattern`: fan_out, pipeline, ...): it gets a row when
  // calls were made under it.
  void add_pattern(const std::string& path, const std::string& pattern);

  struct report {
    // {"agents": {name: totals}, "patterns": {path: totals + "pattern"}}, where totals
    // are {"model_calls", "prompt_tokens", "completion_tokens", "tokens", "cost",
    // "usage_estimated_calls"}.
    nlohmann::json by_agent_and_pattern;
    run_stats run;  // the usage fields of the whole run
  };
  // All totals as of now, taken together.
  report totals() const;

 private:
  // Entries are run_stats with only the usage fields set (run_stats::add sums them).
  run_stats under(const std::string& path) const;

  mutable std::mutex mutex_;
  std::map<std::string, run_stats> agents_;
  // By the path of the calling task's parent (the path to its last '/'): a pattern's
  // calls are the same either way, and there are as many keys as supervisors, not
  // one per task (a simulation makes 100,000 calls).
  std::map<std::string, run_stats, std::less<>> by_parent_;
  std::map<std::string, std::string> patterns_;     // path -> pattern
};

}  // namespace cohort
