#pragma once
// The public API's view of a run (cohort/runtime.hpp): its events and its result,
// converted from the protocol's event and result.
#include <cstdint>

#include "cohort/runtime.hpp"
#include "messages/event.hpp"
#include "messages/result.hpp"

namespace cohort {

Event to_public(const event& e);

// `usage`: the run's model usage, from its ledger (which also has the calls that
// ended branches no longer waited for: r.stats does not).
RunResult to_public(result&& r, bool deadline_hit, int64_t wall_ms, const run_stats& usage);

}  // namespace cohort
