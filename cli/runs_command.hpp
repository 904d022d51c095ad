#pragma once
// `cohort runs list|get|cancel|delete|events --node URL`: a node's runs from the
// command line (docs/node.md). --node defaults to COHORT_NODE, the token is COHORT_TOKEN.
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace cohort {

struct runs_flags {
  std::string node;
  std::string id;
  std::string status;  // list: only runs in this status
  int limit = 20;      // list: how many
  int64_t after = 0;   // events: resume after this event
  bool json = false;
};

CLI::App* add_runs_command(CLI::App& app, runs_flags& flags);

// The exit code: 0 done, 1 the node said no (unknown run, already ended), 2 the node
// could not be reached or answered something unreadable.
int cmd_runs(const CLI::App& runs, const runs_flags& flags, const std::string& token);

}  // namespace cohort
