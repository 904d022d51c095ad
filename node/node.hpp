#pragma once
// `cohort serve`: a Runtime, the store, the runs, the routes and the HTTP server,
// started and stopped together.
#include <cstdint>
#include <memory>

#include "cohort/runtime.hpp"
#include "node/node_options.hpp"

namespace cohort::node {

class node {
 public:
  // Opens the store (runs in flight at the last stop become interrupted) and loads
  // --scenarios DIR. Throws std::invalid_argument / std::runtime_error with a message.
  node(node_options options, RuntimeOptions runtime_options);
  ~node();

  uint16_t start();  // listening; returns the port
  int cluster_port() const;  // where workers join; -1: no cluster
  // SIGTERM: no new runs (503), running ones get `grace_ms` to finish, then are
  // cancelled; the store is flushed. Then the server stops.
  void drain_and_stop(int64_t grace_ms);

 private:
  struct parts;
  std::unique_ptr<parts> parts_;
};

}  // namespace cohort::node
