#pragma once
// When and how soon a failed attempt is tried again: one rule for the supervisor
// engine's branches and for the run driver's root. Plain C++, no CAF.
#include <cstdint>
#include <string>

#include "messages/result.hpp"
#include "spec/scenario.hpp"

namespace cohort {

// The retry class of an error kind (what a node's retry.retry_on names); "" for none.
std::string retry_class(const std::string& kind);

// Whether `policy` tries an attempt that failed with `error` again (attempt counts from 1).
bool retries(const retry_policy& policy, int attempt, const error_info& error);

// Full jitter: uniform in [0, min(cap, base * 2^(retry - 1))]; a 429's Retry-After wins.
int64_t backoff_ms(const retry_policy& policy, int retry, const error_info& error);

}  // namespace cohort
