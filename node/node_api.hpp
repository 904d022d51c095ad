#pragma once
// The node's routes (docs/node.md): authentication, then /healthz, /readyz, the runs
// API, the scenarios a client may name, the agent API of running runs, the
// scenarios as A2A agents and the OpenAI-compatible model router. Every refusal is a JSON error naming the
// header, route or JSON path at fault.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "node/a2a_server.hpp"
#include "node/agent_api.hpp"
#include "node/cluster.hpp"
#include "node/http_server.hpp"
#include "node/model_router.hpp"
#include "node/node_metrics.hpp"
#include "node/node_options.hpp"
#include "node/run_registry.hpp"

namespace cohort::node {

class node_api {
 public:
  node_api(run_registry& runs, model_router& router, agent_api& agents, a2a_server& a2a, cluster_head* cluster,
           const node_options& options, const node_metrics& metrics)
      : runs_(runs), router_(router), agents_(agents), a2a_(a2a), cluster_(cluster), options_(options), metrics_(metrics) {}

  http_reply handle(const http_request& req);
  // /readyz answers 503 and new runs are refused from now on.
  void stop_accepting() { accepting_ = false; }

 private:
  http_reply route(const http_request& req, const std::string& path);
  http_reply runs_route(const http_request& req, const std::string& path, const std::string& query);
  void authenticate(const http_request& req) const;
  // A submit-and-wait (POST /v1/runs with "wait_ms") whose client may hang up first.
  struct pending_wait {
    std::mutex mutex;
    bool gone = false;   // the client hung up
    std::string id;      // set when the wait begins
    uint64_t serial = 0;
  };
  // The answer to POST /v1/runs once the run is on disk: at once, or with "wait_ms" when
  // the run ends or the wait runs out. Static: the store's thread may call it while the
  // node shuts down, after this object is gone (the registry outlives it, and flushes).
  static void answer_submitted(run_registry& runs, const reply_sink& sink, nlohmann::json doc, bool created,
                               int64_t wait_ms, const std::shared_ptr<pending_wait>& wait);

  run_registry& runs_;
  model_router& router_;
  agent_api& agents_;
  a2a_server& a2a_;
  cluster_head* cluster_;  // null: the node has no cluster port
  const node_options& options_;
  const node_metrics& metrics_;
  std::atomic<bool> accepting_{true};
};

// Constant-time comparison: how long it takes says nothing about where they differ.
bool same_secret(const std::string& a, const std::string& b);

}  // namespace cohort::node
