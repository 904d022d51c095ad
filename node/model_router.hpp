#pragma once
// The node's OpenAI-compatible router (docs/node.md, "The model router"): any OpenAI
// client sends /v1/chat/completions to the node, which routes it by `model` to the
// node's own model pool (endpoints, limits, circuit breakers, failover, as a
// scenario's "models" declare them), keeping the calls of one X-Workflow-Id on one
// healthy endpoint. Usage, cost and latency are counted per model and per workflow.
#include <map>
#include <memory>
#include <string>

#include "cohort/runtime.hpp"
#include "node/http_server.hpp"
#include "node/node_metrics.hpp"
#include "spec/scenario.hpp"

namespace cohort::node {

class model_router {
 public:
  // `models`: the node's models file, read (spec/model_reader.hpp).
  model_router(Runtime& runtime, std::map<std::string, model_def> models, node_metrics& metrics);
  ~model_router();

  // GET /v1/models: {"object": "list", "data": [{"id", "object": "model", ...}]}.
  http_reply list_models() const;
  // POST /v1/chat/completions: answered later (or streamed) once the model answers.
  // Throws api_error for a request it refuses before asking any model.
  http_reply chat_completions(const http_request& req);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace cohort::node
