#pragma once
// `cohort serve`: the networked node (node/, docs/node.md).
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cohort/options.hpp"
#include "node/node_options.hpp"

namespace cohort {

struct serve_flags {
  node::node_options node;
  std::string token_env;   // the variable holding the bearer token
  std::string allowed_key_env;  // comma-separated
  std::string cluster_secret_env;  // the variable holding the cluster secret
  std::string workers;  // HOST:PORT,... of listening workers this head keeps inviting
  int drain_s = 30;
};

CLI::App* add_serve_command(CLI::App& app, serve_flags& flags);

// Runs until SIGINT or SIGTERM; returns the exit code. `config_file`: the --config file,
// whose "node" section fills the flags `serve` did not get.
int cmd_serve(const CLI::App& serve, serve_flags flags, const RuntimeOptions& options, const std::string& config_file);

}  // namespace cohort
