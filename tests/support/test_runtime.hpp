#pragma once
// Runtime options for tests: two scheduler threads (the CI machine has two cores) and a
// run timeout that ends a stuck test instead of hanging it.
#include "cohort/runtime.hpp"

namespace cohort::testing {

inline RuntimeOptions test_options(int run_timeout_ms = 60000) {
  auto o = RuntimeOptions::defaults();
  o.scheduler_threads = 2;
  o.run_timeout_ms = run_timeout_ms;
  return o;
}

}  // namespace cohort::testing
