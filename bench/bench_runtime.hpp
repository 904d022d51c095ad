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

// CPU time (user + system, all threads) the process has used so far, in microseconds:
// per-call cost that does not depend on how busy the other core was.
double cpu_us();

}  // namespace cohort::bench
