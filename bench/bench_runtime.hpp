#pragma once
// The one runtime every benchmark shares (config/cohort.json defaults, overridable by
// COHORT_* variables to compare settings); main ends it before static destruction.
#include "cohort/runtime.hpp"

namespace cohort::bench {

Runtime& runtime();
void end_runtime();

}  // namespace cohort::bench
