#pragma once
// The node's settings from the config file: its "node" section (docs/node.md). A flag
// given on the command line wins over the file.
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/run_command.hpp"
#include "cli/serve_command.hpp"

namespace cohort {

// Applies `doc["node"]` (if any) of the config file `where` to the flags `serve` did not
// get. Throws std::runtime_error naming the file and the setting's JSON path.
void apply_node_config(const CLI::App& serve, const nlohmann::json& doc, const std::string& where, serve_flags& f);

// `cohort run` with a head node's config file: its node.workers and
// node.cluster_secret_env, unless `run` got --workers or --cluster-secret-env.
void apply_node_workers(const CLI::App& run, const std::string& config_file, run_flags& f);

}  // namespace cohort
