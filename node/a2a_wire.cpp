#include "node/a2a_wire.hpp"

#include <chrono>
#include <ctime>
#include <stdexcept>

namespace cohort::node::a2a {
namespace {

std::string iso_now() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

nlohmann::json agent_message(const std::string& text, const std::string& task_id, const std::string& context_id) {
  return {{"kind", "message"}, {"role", "agent"},         {"messageId", task_id + "-status"},
          {"taskId", task_id}, {"contextId", context_id}, {"parts", {{{"kind", "text"}, {"text", text}}}}};
}

}  // namespace

nlohmann::json agent_card(const std::string& name, const nlohmann::json& scenario, const std::string& url) {
  auto description = scenario.value("description", "a cohort scenario: " + scenario.value("name", name));
  return {{"protocolVersion", protocol_version},
          {"name", scenario.value("name", name)},
          {"description", description},
          {"url", url},
          {"preferredTransport", "JSONRPC"},
          {"version", "1.0.0"},
          {"provider", {{"organization", "cohort"}, {"url", "https://github.com/cohort"}}},
          {"capabilities", {{"streaming", true}, {"pushNotifications", false}, {"stateTransitionHistory", false}}},
          {"defaultInputModes", {"text/plain", "application/json"}},
          {"defaultOutputModes", {"text/plain", "application/json"}},
          {"skills",
           {{{"id", name},
             {"name", scenario.value("name", name)},
             {"description", description},
             {"tags", {"cohort", scenario.value("/workflow/type"_json_pointer, std::string("agent"))}}}}}};
}

nlohmann::json run_input(const nlohmann::json& message) {
  if (!message.is_object() || !message.contains("parts") || !message["parts"].is_array())
    throw std::invalid_argument("params.message must be a message with \"parts\"");
  std::string text;
  nlohmann::json data;
  const auto& parts = message["parts"];
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    auto at = "params.message.parts[" + std::to_string(i) + "]";
    auto kind = p.is_object() ? p.value("kind", "") : "";
    if (kind == "text" && p.contains("text") && p["text"].is_string()) {
      text += (text.empty() ? "" : "\n") + p["text"].get<std::string>();
    } else if (kind == "data" && p.contains("data") && p["data"].is_object()) {
      if (data.is_null()) data = nlohmann::json::object();
      data.update(p["data"]);
    } else if (kind == "file") {
      throw std::invalid_argument(at + ": file parts are not taken (text and data are)");
    } else {
      throw std::invalid_argument(
          at + ": a part is {\"kind\": \"text\", \"text\"} or {\"kind\": \"data\", \"data\": {...}}");
    }
  }
  nlohmann::json input = {{"text", text}};
  if (!data.is_null()) input["data"] = std::move(data);
  return input;
}

const char* task_state(const std::string& s) {
  if (s == "queued") return "submitted";
  if (s == "running") return "working";
  if (s == "succeeded") return "completed";
  if (s == "cancelled") return "canceled";
  return "failed";  // failed, timed_out, interrupted
}

bool final_state(const std::string& state) { return state == "completed" || state == "canceled" || state == "failed"; }

nlohmann::json output_artifact(const nlohmann::json& output) {
  nlohmann::json part =
      output.is_string()
          ? nlohmann::json{{"kind", "text"}, {"text", output}}
          : nlohmann::json{{"kind", "data"}, {"data", output.is_object() ? output : nlohmann::json{{"value", output}}}};
  return {{"artifactId", "output"}, {"name", "output"}, {"parts", {part}}};
}

nlohmann::json task(const nlohmann::json& run, const std::string& context_id) {
  auto id = run.value("id", "");
  std::string state = task_state(run.value("status", ""));
  nlohmann::json status = {{"state", state}, {"timestamp", iso_now()}};
  if (run.contains("error") && run["error"].is_object() && !run["error"].empty())
    status["message"] = agent_message(run["error"].value("message", "the run failed"), id, context_id);
  nlohmann::json t = {{"kind", "task"}, {"id", id}, {"contextId", context_id}, {"status", status}};
  if (state == "completed" && run.contains("output")) t["artifacts"] = {output_artifact(run["output"])};
  return t;
}

nlohmann::json status_update(const std::string& task_id, const std::string& context_id, const nlohmann::json& status,
                             bool final) {
  return {
      {"kind", "status-update"}, {"taskId", task_id}, {"contextId", context_id}, {"status", status}, {"final", final}};
}

nlohmann::json rpc_result(const nlohmann::json& id, nlohmann::json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

nlohmann::json rpc_error(const nlohmann::json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

}  // namespace cohort::node::a2a
