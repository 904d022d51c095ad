#pragma once
// `cohort worker --join HOST:PORT` (a worker of a head's cluster) and
// `cohort cluster --node URL` (what the head's cluster looks like): docs/cluster.md.
#include <cstdint>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "cohort/options.hpp"
#include "node/standing_invitations.hpp"

namespace cohort {

struct worker_flags {
  std::string join;    // HOST:PORT of the head's cluster port
  std::string listen;  // [HOST:]PORT where heads dial in instead
  int slots = 16;
  std::string labels;  // k=v,k=v
  std::string name;
  std::string secret_env;   // the variable holding the cluster secret
  std::string models_file;  // {"models": {...}}: this worker's own definition of aliases
};

CLI::App* add_worker_command(CLI::App& app, worker_flags& flags);
// Runs until SIGINT or SIGTERM (0) or the head refuses it (2).
int cmd_worker(const worker_flags& flags, RuntimeOptions options);

// "HOST:PORT" (or "PORT", on `default_host`) -> the two; throws std::invalid_argument
// naming `what` (the command and flag).
std::pair<std::string, uint16_t> host_and_port(const std::string& text, const std::string& what,
                                               const std::string& default_host);
// "HOST:PORT,..." (a PORT alone is on 127.0.0.1) -> the addresses, empty items skipped;
// throws std::invalid_argument naming `what`.
std::vector<node::worker_address> worker_addresses(const std::string& list, const std::string& what);

struct cluster_flags {
  std::string node;
  bool json = false;
};

CLI::App* add_cluster_command(CLI::App& app, cluster_flags& flags);
int cmd_cluster(const cluster_flags& flags, const std::string& token);

}  // namespace cohort
