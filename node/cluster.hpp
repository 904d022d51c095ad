#pragma once
// The head node's side of a cluster (docs/cluster.md): the membership actor that lets
// workers join (version, protocol and secret checked), hears their heartbeats, places
// branches on them and answers node_lost for every branch of a worker that dies or
// falls silent. Published on the cluster port with CAF's middleman.
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "node/standing_invitations.hpp"

namespace cohort::node {

struct cluster_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;         // 0: any free port
  bool publish = true;       // false: no port; workers come by invitation (invite())
  std::string secret;        // workers prove it at join; "" only on loopback
  int heartbeat_ms = 500;    // how often workers beat
  int lost_after_ms = 1500;  // silent this long: declared lost
  // Told the tools of each worker that joins (the head then accepts scenarios naming them).
  std::function<void(const std::vector<std::string>&)> on_worker_tools;
};

class cluster_head {
 public:
  // Starts the membership, publishes it and hands it to `rt`'s runs. Throws
  // std::invalid_argument (no secret off loopback) or std::runtime_error (cannot bind).
  cluster_head(Runtime& rt, cluster_options options);
  ~cluster_head();
  cluster_head(const cluster_head&) = delete;
  cluster_head& operator=(const cluster_head&) = delete;

  uint16_t port() const { return port_; }
  // Dials a worker that listens (cohort worker --listen) and invites it to join, proving
  // the secret to it first; "" when it took the invitation (it then joins), else why not.
  std::string invite(const std::string& host, uint16_t port);
  // Invites these listening workers now and again every `every_ms` while they are not
  // members, until this head ends (cohort serve --workers).
  void keep_inviting(std::vector<worker_address> workers, int every_ms = 2000);
  // Waits until `n` workers have joined, up to `timeout_ms`; how many have.
  size_t wait_for_workers(size_t n, int timeout_ms);
  // GET /v1/cluster: {"workers": [...], "queued", "in_flight", "placed", "lost_branches", ...}
  nlohmann::json status();

 private:
  Runtime& rt_;
  caf::actor actor_;
  uint16_t port_ = 0;
  std::string secret_;
  std::unique_ptr<standing_invitations> invitations_;
};

}  // namespace cohort::node
