#pragma once
// Runtime settings: defaults from config/cohort.json (compiled in), then a config
// file, then COHORT_* environment variables.
#include <string>

namespace cohort {

struct RuntimeOptions {
  int scheduler_threads = 0;      // 0 = one per core (at least 2)
  std::string scheduler_policy = "sharing";  // CAF scheduler: sharing | stealing
  // Asio threads for all HTTP connections. One keeps up with tens of thousands of
  // calls a second; a second one only adds hand-offs (bench PoolThroughput).
  int io_threads = 1;
  int default_timeout_ms = 300000;// per branch, when neither node nor agent says
  int run_timeout_ms = 600000;    // whole run, when the scenario does not say
  std::string log_level = "warn"; // trace debug info warn error critical off

  // The compiled-in defaults (config/cohort.json).
  static RuntimeOptions defaults();
  // Defaults, overridden by `path` (if not empty) and then by the environment:
  // COHORT_SCHEDULER_THREADS, COHORT_SCHEDULER_POLICY, COHORT_IO_THREADS, COHORT_DEFAULT_TIMEOUT_MS,
  // COHORT_RUN_TIMEOUT_MS, COHORT_LOG_LEVEL. Throws std::runtime_error naming the
  // file and key on bad input.
  static RuntimeOptions load(const std::string& path = "");
};

}  // namespace cohort
