#pragma once
// `cohort serve` as a real process for tests, and the scenarios they send it.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace cohort::testing {

// A directory under the test temp dir, emptied: a node's --data, a file's home.
std::string fresh_dir(const std::string& name);

// A `cohort serve` on a free port; its data directory outlives it (restarts use it again).
class node_process {
 public:
  // `args` follow `serve`; `global` (e.g. --config FILE) come before it.
  explicit node_process(const std::string& data, std::vector<std::string> args = {},
                        std::vector<std::string> global = {});
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  child_process& process() { return *proc_; }

 private:
  std::unique_ptr<child_process> proc_;
  int port_ = 0;
};

// examples/NAME, parsed.
nlohmann::json scenario_file(const std::string& name);

// One sim agent answering after `latency_ms`.
nlohmann::json slow_scenario(int latency_ms);

// POST /v1/runs with `body`; expects `expect_status`; the answer's JSON.
nlohmann::json submit(int port, const nlohmann::json& body, int expect_status = 201,
                      const std::vector<std::pair<std::string, std::string>>& headers = {});

// Polls GET /v1/runs/ID until the run is no longer running (or timeout_ms); its document.
nlohmann::json wait_finished(int port, const std::string& id, int timeout_ms = 20000,
                             const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace cohort::testing
