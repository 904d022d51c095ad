#pragma once
// Runtime settings: defaults from config/cohort.json (compiled in), then a config
// file, then COHORT_* environment variables.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

struct RuntimeOptions {
  int scheduler_threads = 0;      // 0 = one per core (at least 2)
  std::string scheduler_policy = "sharing";  // CAF scheduler: sharing | stealing
  // Asio threads for all HTTP connections. One keeps up with tens of thousands of
  // calls a second; a second one only adds hand-offs (bench PoolThroughput).
  int io_threads = 1;
  int default_timeout_ms = 300000;// per branch, when neither node nor agent says
  int run_timeout_ms = 600000;    // whole run, when the scenario does not say
  // Branches in flight at once in a pattern that sets no max_concurrency (0: no
  // limit; runs whose agents use the bus or barriers have none).
  int default_max_concurrency = 10000;
  std::string log_level = "warn"; // trace debug info warn error critical off
  // Bounds on input from outside (scenario files, --input, model answers): JSON
  // nesting, the size of a file read, the size of one rendered prompt.
  size_t max_json_depth = 256;
  size_t max_file_bytes = size_t{64} << 20;
  size_t max_rendered_bytes = size_t{16} << 20;
  // Takes part in a cluster (a head with --cluster-port, or a worker): starts CAF's
  // network layer, with heartbeats so that a frozen peer is noticed (docs/cluster.md).
  bool cluster = false;
  // MCP servers every scenario may use, as a scenario's "mcp_servers" says them
  // ({"fs": {"command": ..., "args": [...]}, "web": {"url": ...}}); a scenario's own server
  // of the same name wins. One client a server for the whole runtime (docs/tools.md).
  nlohmann::json mcp_servers = nlohmann::json::object();

  // The compiled-in defaults (config/cohort.json).
  static RuntimeOptions defaults();
  // Defaults, overridden by `path` (if not empty) and then by the environment:
  // COHORT_SCHEDULER_THREADS, COHORT_SCHEDULER_POLICY, COHORT_IO_THREADS, COHORT_DEFAULT_TIMEOUT_MS,
  // COHORT_RUN_TIMEOUT_MS, COHORT_LOG_LEVEL. Throws std::runtime_error naming the
  // file and key on bad input.
  static RuntimeOptions load(const std::string& path = "");
  // Throws std::runtime_error naming `where` when `level` is not a log level.
  static void check_log_level(const std::string& level, const std::string& where);
};

}  // namespace cohort
