#pragma once
// Seed 000's agent API over HTTP (docs/node.md, "Agents over HTTP"): programs outside a
// run, in any language, talk to its agents as equals, through the run's own bus and
// barrier actors. Every route is /v1/workflows/{run}/...:
//   POST agents/{agent}/send       {"to": NAME | [NAMES] | "*", "content": ...}
//   GET  agents/{agent}/messages?max=N&timeout_ms=T   (long poll)
//   POST sync/barrier              {"name", "agent", "timeout_ms", "value"}
//   POST agents/{agent}/register   an external agent ("type": "external") says it is there
//   POST agents/{agent}/result     {"output": ...}: the external agent's output
// Waits (messages, the barrier) are answered later: no HTTP thread is held.
#include <string>

#include "cohort/runtime.hpp"
#include "node/http_server.hpp"
#include "node/run_registry.hpp"

namespace cohort::node {

class agent_api {
 public:
  agent_api(Runtime& runtime, run_registry& runs) : runtime_(runtime), runs_(runs) {}

  // `path` starts with /v1/workflows/. Throws api_error naming what is wrong.
  http_reply handle(const http_request& req, const std::string& path, const std::string& query);

 private:
  Runtime& runtime_;
  run_registry& runs_;
};

}  // namespace cohort::node
