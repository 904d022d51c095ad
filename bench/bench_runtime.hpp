#pragma once
// The one runtime every benchmark shares (config/cohort.json defaults, overridable by
// COHORT_* variables to compare settings); main ends it before static destruction.
#include "cohort/runtime.hpp"

namespace cohort::bench {

Runtime& runtime();
void end_runtime();

// The process's peak resident memory so far, in MiB (run.sh runs the memory benchmarks
// in processes of their own, so it is theirs).
double peak_rss_mb();

}  // namespace cohort::bench
