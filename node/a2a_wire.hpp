#pragma once
// The Agent2Agent protocol (A2A 0.3, JSON-RPC binding) as the node speaks it: agent
// cards, tasks made from runs, a message made into a run's input, JSON-RPC answers and
// A2A's error codes. Plain JSON; the routes are in a2a_server.
#include <string>

#include <nlohmann/json.hpp>

namespace cohort::node::a2a {

constexpr const char* protocol_version = "0.3.0";

// JSON-RPC and A2A error codes.
enum error_code : int {
  parse_error = -32700,
  invalid_request = -32600,
  method_not_found = -32601,
  invalid_params = -32602,
  internal_error = -32603,
  task_not_found = -32001,
  task_not_cancelable = -32002,
  push_not_supported = -32003,
  unsupported_operation = -32004,
};

// The card of scenario `name` served at `url` (its JSON-RPC endpoint): the scenario's
// description, one skill (the scenario), streaming.
nlohmann::json agent_card(const std::string& name, const nlohmann::json& scenario, const std::string& url);

// A message's parts as a run's input: {"text": the text parts joined by newlines,
// "data": the data parts merged (when any), "files": the file parts (when any), each
// {"name", "mime_type", and "text" (UTF-8 content), "bytes" (other content, base64) or
// "uri" (never fetched)}}. Throws std::invalid_argument naming the part.
nlohmann::json run_input(const nlohmann::json& message);

// The A2A state of a node run's status (running -> working, succeeded -> completed, ...).
const char* task_state(const std::string& run_status);
bool final_state(const std::string& state);

// A task from a node run's document (GET /v1/runs/ID): its state, its output as an
// artifact once there is one, an error as the status message.
nlohmann::json task(const nlohmann::json& run, const std::string& context_id);
// The artifact of a run's output: a text part for a string, a data part otherwise.
nlohmann::json output_artifact(const nlohmann::json& output);
nlohmann::json status_update(const std::string& task_id, const std::string& context_id, const nlohmann::json& status,
                             bool final);

nlohmann::json rpc_result(const nlohmann::json& id, nlohmann::json result);
nlohmann::json rpc_error(const nlohmann::json& id, int code, const std::string& message);

}  // namespace cohort::node::a2a
