#pragma once
// result: the one answer to a task. Every branch ends in exactly one final state.
#include <cstdint>
#include <string>

#include "messages/json_inspect.hpp"

namespace cohort {

enum class outcome : uint8_t { succeeded = 0, failed = 1, timed_out = 2, cancelled = 3 };

const char* to_string(outcome o);

// Error kinds are stable strings so they can be matched by retry policies and users:
// timeout, rate_limited, server_error, http_status, connection_refused, connection_reset,
// connection, tls (handshake or TLS set-up failed), tls_verify (the server's certificate
// was not trusted or not for its name), malformed_response, unsupported_response (e.g.
// tool calls instead of text), invalid_output, tool_error, model_error, cancelled,
// invalid_input, crashed; barrier_broken, barrier_extra_party, mailbox_full (coordination).
struct error_info {
  std::string kind;
  std::string message;
  int64_t retry_after_ms = -1;  // what the server asked us to wait (HTTP 429 Retry-After); -1: nothing
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, error_info& x) {
  return f(caf::meta::type_name("cohort.error_info"), x.kind, x.message, x.retry_after_ms);
}

// Counts that add up the tree: supervisors sum their children's stats.
// Counts that come from servers can be anything: a sum stops at the largest value
// instead of wrapping to a negative one.
inline int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

struct run_stats {
  int64_t start_ms = 0;            // wall-clock span of this node
  int64_t end_ms = 0;
  int64_t agent_us = 0;            // sum of leaf agent busy time
  int64_t model_calls = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double cost = 0;                 // of those tokens, at the models' prices
  int64_t usage_estimated = 0;     // model calls whose server reported no usage (estimated)
  int64_t succeeded = 0;           // leaf branches by final state
  int64_t failed = 0;
  int64_t timed_out = 0;
  int64_t cancelled = 0;
  int64_t retries = 0;             // attempts that failed and were tried again
  int64_t agents_started = 0;      // agent actors started (a pooled or reused one is not)

  void add(const run_stats& o);
  void count(outcome o, int64_t n = 1);
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_stats& x) {
  return f(caf::meta::type_name("cohort.run_stats"), x.start_ms, x.end_ms, x.agent_us,
           x.model_calls, x.prompt_tokens, x.completion_tokens, x.cost, x.usage_estimated, x.succeeded, x.failed,
           x.timed_out, x.cancelled, x.retries, x.agents_started);
}

struct result {
  outcome status = outcome::succeeded;
  error_info error;          // empty kind when succeeded
  nlohmann::json output;     // the value (partial results for a failed supervisor)
  run_stats stats;
  nlohmann::json report;     // what a pattern says besides its output (DAG timings, a plan, ...)
  int32_t attempts = 1;      // how many times the branch ran (retries + 1)

  bool ok() const { return status == outcome::succeeded; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, result& x) {
  return f(caf::meta::type_name("cohort.result"), x.status, x.error, x.output, x.stats, x.report, x.attempts);
}

}  // namespace cohort
