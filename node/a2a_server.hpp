#pragma once
// The node as an A2A server (docs/node.md, "A2A"): each scenario a client may name
// (--scenarios DIR, PUT /v1/scenarios/NAME) is an A2A agent at /a2a/NAME, its card at
// /a2a/NAME/.well-known/agent-card.json. Its JSON-RPC methods map to runs:
// message/send starts a run (the message's text and data as its input) and answers the
// task when the run ends (or at once with "blocking": false), message/stream streams the
// task's updates (SSE), tasks/get reads a run, tasks/cancel cancels it, tasks/resubscribe
// streams a task's updates again (from its start), tasks/pushNotificationConfig/* keep
// the webhooks a task's updates are POSTed to (a2a_push).
#include <map>
#include <mutex>
#include <string>

#include "node/a2a_push.hpp"
#include "node/http_server.hpp"
#include "node/run_registry.hpp"

namespace cohort::node {

class a2a_server {
 public:
  explicit a2a_server(run_registry& runs) : runs_(runs), push_(runs) {}

  // `path` starts with /a2a/. Errors of the JSON-RPC layer are JSON-RPC errors.
  http_reply handle(const http_request& req, const std::string& path);

 private:
  http_reply call(const std::string& name, const nlohmann::json& rpc);
  http_reply send(const std::string& name, const nlohmann::json& id, const nlohmann::json& params, bool stream);
  http_reply push_config(const std::string& method, const nlohmann::json& id, const std::string& task_id,
                         const nlohmann::json& params);
  http_reply stream_task(const nlohmann::json& id, const nlohmann::json& run, const std::string& context);
  // params[key] as a task id (`field` names it in the error: std::invalid_argument).
  static std::string task_id_of(const nlohmann::json& params, const std::string& field);
  // The run of task `task_id` if it is agent `name`'s, else api_error 404.
  nlohmann::json owned_run(const std::string& name, const std::string& task_id);
  std::string context_of(const std::string& task_id);
  void remember_context(const std::string& task_id, const std::string& context_id);

  run_registry& runs_;
  a2a_push push_;
  std::mutex contexts_mutex_;
  std::map<std::string, std::string> contexts_;  // task id -> context id (the newest 10,000)
};

}  // namespace cohort::node
