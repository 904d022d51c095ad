#pragma once
// `cohort run FILE`: on this machine, or submitted to a node with --node URL (or
// COHORT_NODE), with the same progress, result, --json document and exit codes.
#include <memory>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_output.hpp"
#include "cohort/options.hpp"
#include "cohort/runtime.hpp"

namespace cohort {

struct run_flags {
  std::string file;
  std::string input;   // JSON text or @FILE
  std::string events;  // a file for every event as JSON Lines
  std::string node;    // a node's URL: run there
  bool local = false;  // run here even when COHORT_NODE is set
  std::string workers;             // HOST:PORT,... of listening workers this run invites (docs/cluster.md)
  std::string cluster_secret_env;  // the variable holding their secret
  bool json = false;
  bool quiet = false;
};

CLI::App* add_run_command(CLI::App& app, run_flags& flags);

int cmd_run_local(const run_flags& flags, const RuntimeOptions& options);
// `token`: the node's bearer token (COHORT_TOKEN), empty for none.
int cmd_run_remote(const run_flags& flags, const std::string& token);

// What both share.
nlohmann::json parse_input(const std::string& arg);  // --input: JSON text or @FILE
const char* signal_name(int sig);
// What shows a run's events: progress lines on stderr (unless --quiet) and the
// --events file (null without one); the handler is null when neither is asked for.
std::pair<std::shared_ptr<events_file>, EventHandler> event_outputs(const run_flags& flags,
                                                                    std::shared_ptr<const secret_mask> mask);
// Prints the result on stdout (as --json asks), closes the events file; the exit code:
// 0 succeeded, 1 failed or timed out, 130 cancelled, 3 a write failed.
int print_outcome(const RunResult& result, const run_flags& flags, const secret_mask& mask,
                  const std::shared_ptr<events_file>& events);

}  // namespace cohort
