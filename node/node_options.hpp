#pragma once
// What `cohort serve` is started with (docs/node.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "node/standing_invitations.hpp"

namespace cohort::node {

struct node_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 7070;                  // 0: any free port (the line printed at start says which)
  std::string data_dir = "cohort-data";  // the SQLite store
  std::string scenarios_dir;             // scenarios a client may name ("scenario_name"); "" = none
  std::string models_file;               // the router's models ({"models": {...}}); "" = none
  std::string token;                     // the bearer token every route but /healthz needs; "" = none
  int max_runs = 64;                     // running at once; beyond it a submission waits in the queue
  size_t queue = 0;                      // submissions that may wait for a slot; beyond it 429
  size_t max_body_bytes = 8u << 20;      // request bodies; beyond it 413
  int header_timeout_ms = 10000;         // a request must arrive within this (then its body within as long)
  int idle_timeout_ms = 60000;           // a keep-alive connection that asks nothing is closed
  int max_connections = 1024;            // beyond it new connections are closed at once
  size_t watcher_queue = 10000;          // events buffered for one SSE watcher before it is dropped
  std::vector<std::string> allowed_key_env;  // api_key_env names a submitted scenario may use
  int threads = 2;                       // HTTP I/O threads
  size_t keep_runs = 0;                  // ended runs kept (the newest); 0 = all
  double keep_days = 0;                  // ended runs older than this are pruned; 0 = forever
  int prune_interval_ms = 1000;          // how often the age limit is looked at
  int cluster_port = -1;                 // workers join here (docs/cluster.md); -1: no cluster, 0: any port
  std::string cluster_bind = "127.0.0.1";
  std::string cluster_secret;            // workers prove it at join; needed off loopback
  std::vector<worker_address> cluster_workers;  // listening workers this head keeps inviting
};

// Throws std::invalid_argument for a node that would be open to anyone: a bind address
// other than loopback without a token.
void check_exposure(const node_options& o);

bool is_loopback(const std::string& address);

}  // namespace cohort::node
