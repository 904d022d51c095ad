#include "workflow/retry.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace cohort {

std::string retry_class(const std::string& kind) {
  if (kind == "timeout" || kind == "rate_limited" || kind == "server_error" || kind == "invalid_output" ||
      kind == "node_lost")
    return kind;
  if (kind == "model_error" || kind == "malformed_response") return "server_error";
  if (kind == "connection" || kind == "connection_refused" || kind == "connection_reset") return "connection";
  return {};
}

bool retries(const retry_policy& policy, int attempt, const error_info& error) {
  if (attempt >= policy.max_attempts) return false;
  auto cls = retry_class(error.kind);
  return std::find(policy.on.begin(), policy.on.end(), cls) != policy.on.end();
}

bool retries_lost(const retry_policy& policy, int lost_so_far) {
  if (lost_so_far >= node_lost_retries) return false;
  return std::find(policy.on.begin(), policy.on.end(), "node_lost") != policy.on.end();
}

int64_t backoff_ms(const retry_policy& policy, int retry, const error_info& error) {
  // The server's wish, within reason: the value may come from another node, and a
  // year-long wait would only hold the branch until its deadline anyway.
  constexpr int64_t longest_retry_after_ms = 3600 * 1000;
  if (error.kind == "node_lost") return 0;  // another worker (or the head) takes it now
  if (error.kind == "rate_limited" && error.retry_after_ms >= 0)
    return std::min(error.retry_after_ms, longest_retry_after_ms);
  double ceiling = std::min<double>(policy.max_backoff_ms, policy.backoff_ms * std::pow(2.0, retry - 1));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(std::uniform_real_distribution<double>(0, ceiling)(rng));
}

}  // namespace cohort
