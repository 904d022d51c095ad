#include "node/a2a_wire.hpp"

#include <chrono>
#include <ctime>
#include <optional>
#include <stdexcept>

#include <boost/beast/core/detail/base64.hpp>

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

// Strict base64 (padding optional): null when `text` is not.
std::optional<std::string> base64_decoded(const std::string& text) {
  auto len = text.size();
  for (int pad = 0; pad < 2 && len > 0 && text[len - 1] == '='; ++pad) --len;
  if (len % 4 == 1) return std::nullopt;
  std::string out(boost::beast::detail::base64::decoded_size(len) + 3, '\0');
  auto [written, read] = boost::beast::detail::base64::decode(out.data(), text.data(), len);
  if (read != len) return std::nullopt;
  out.resize(written);
  return out;
}

bool utf8(const std::string& bytes) {
  try {
    (void)nlohmann::json(bytes).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// A file part as a run's input: its name and media type, and its content: "text" when
// the bytes are UTF-8, else "bytes" (base64, as sent). A "uri" is passed on as given and
// never fetched by the node (a scenario's tool may, if the scenario says so).
nlohmann::json file_input(const nlohmann::json& file, const std::string& at) {
  nlohmann::json out = nlohmann::json::object();
  if (file.contains("name") && file["name"].is_string()) out["name"] = file["name"];
  if (file.contains("mimeType") && file["mimeType"].is_string()) out["mime_type"] = file["mimeType"];
  bool has_bytes = file.contains("bytes"), has_uri = file.contains("uri");
  if (has_bytes == has_uri) throw std::invalid_argument(at + ": a file has \"bytes\" (base64) or \"uri\", one of them");
  if (has_uri) {
    if (!file["uri"].is_string() || file["uri"].get_ref<const std::string&>().empty())
      throw std::invalid_argument(at + ".uri must be a URI");
    out["uri"] = file["uri"];
    return out;
  }
  auto decoded = file["bytes"].is_string() ? base64_decoded(file["bytes"].get<std::string>()) : std::nullopt;
  if (!decoded) throw std::invalid_argument(at + ".bytes must be base64");
  out["size"] = decoded->size();
  if (utf8(*decoded))
    out["text"] = std::move(*decoded);
  else
    out["bytes"] = file["bytes"];
  return out;
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
          {"capabilities", {{"streaming", true}, {"pushNotifications", true}, {"stateTransitionHistory", false}}},
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
  nlohmann::json data, files = nlohmann::json::array();
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
    } else if (kind == "file" && p.contains("file") && p["file"].is_object()) {
      files.push_back(file_input(p["file"], at + ".file"));
    } else {
      throw std::invalid_argument(at +
                                  ": a part is {\"kind\": \"text\", \"text\"}, {\"kind\": \"data\", \"data\": {...}} "
                                  "or {\"kind\": \"file\", \"file\": {...}}");
    }
  }
  nlohmann::json input = {{"text", text}};
  if (!data.is_null()) input["data"] = std::move(data);
  if (!files.empty()) input["files"] = std::move(files);
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
  if (state == "completed" && run.contains("output")) t["artifacts"] = nlohmann::json::array({output_artifact(run["output"])});  // `= {x}` is x itself under clang
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
