#pragma once
// When and how soon a failed attempt is tried again: one rule for the supervisor
// engine's branches and for the run driver's root. Plain C++, no CAF.
#include <cstdint>
#include <string>

#include "messages/result.hpp"
#include "spec/scenario.hpp"

namespace cohort {

// Times a branch whose worker was lost is started again, whatever its max_attempts:
// a dead machine is not the branch's fault.
constexpr int node_lost_retries = 2;

// The retry class of an error kind (what a node's retry.retry_on names); "" for none.
std::string retry_class(const std::string& kind);

// Whether `policy` tries an attempt that failed with `error` again (attempt counts from 1).
bool retries(const retry_policy& policy, int attempt, const error_info& error);

// Whether a branch whose worker was lost (error kind node_lost) `lost_so_far` times
// runs again: when `policy` retries node_lost (the default does) and it has tries left.
bool retries_lost(const retry_policy& policy, int lost_so_far);

// Full jitter: uniform in [0, min(cap, base * 2^(retry - 1))]; a 429's Retry-After wins.
int64_t backoff_ms(const retry_policy& policy, int retry, const error_info& error);

}  // namespace cohort
