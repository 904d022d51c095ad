#include "agents/mcp_client.hpp"

#include <algorithm>

#include "agents/mcp_http_client.hpp"
#include "agents/mcp_stdio_client.hpp"

namespace cohort {
namespace {

constexpr size_t max_tools = 1000;  // one server's

// The text of a tool result's content, for an error or a plain answer.
std::string content_text(const nlohmann::json& result) {
  std::string text;
  auto content = result.find("content");
  if (content == result.end() || !content->is_array()) return text;
  for (const auto& item : *content)
    if (item.is_object() && item.value("type", "") == "text" && item.contains("text") && item["text"].is_string())
      text += (text.empty() ? "" : "\n") + item["text"].get<std::string>();
  return text;
}

}  // namespace

nlohmann::json mcp_initialize_params() {
  return {{"protocolVersion", mcp_protocol_version},
          {"capabilities", nlohmann::json::object()},
          {"clientInfo", {{"name", "cohort"}, {"version", "0.1"}}}};
}

mcp_error mcp_error_answer(const std::string& server, const nlohmann::json& e) {
  return mcp_error("mcp_error", "MCP server " + server + " answered an error: " +
                                    (e.is_object() && e.contains("message") && e["message"].is_string()
                                         ? e["message"].get<std::string>()
                                         : e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

nlohmann::json mcp_client::list_tools() {
  auto tools = nlohmann::json::array();
  nlohmann::json params = nlohmann::json::object();
  for (int page = 0; page < 100; ++page) {
    auto result = request("tools/list", params, def_.timeout_ms);
    if (result.contains("tools") && result["tools"].is_array())
      for (auto& t : result["tools"]) tools.push_back(std::move(t));
    // Each becomes an agent with a compiled schema: a server's flood stops here.
    if (tools.size() > max_tools)
      throw mcp_error("mcp_error", "MCP server " + def_.name + " lists more than " + std::to_string(max_tools) + " tools");
    auto next = result.find("nextCursor");
    if (next == result.end() || !next->is_string() || next->get<std::string>().empty()) break;
    params = {{"cursor", *next}};
  }
  return tools;
}

nlohmann::json mcp_client::call_tool(const std::string& name, const nlohmann::json& arguments, int timeout_ms) {
  auto limit = timeout_ms > 0 ? std::min(timeout_ms, def_.timeout_ms) : def_.timeout_ms;
  auto result = request("tools/call", {{"name", name}, {"arguments", arguments}}, limit);
  if (result.value("isError", false) == true)
    throw mcp_error("mcp_error", "MCP server " + def_.name + ", tool " + name + ": " + content_text(result));
  return result;
}

nlohmann::json mcp_output(const nlohmann::json& result) {
  if (result.contains("structuredContent") && !result["structuredContent"].is_null()) return result["structuredContent"];
  auto text = content_text(result);
  if (!text.empty()) return text;
  return result.value("content", nlohmann::json::array());
}

mcp_tool_lister mcp_registry::lister() {
  return [self = shared_from_this()](const mcp_server_def& def) { return self->client(def)->list_tools(); };
}

std::shared_ptr<mcp_client> mcp_registry::client(const mcp_server_def& def) {
  nlohmann::json key{{"name", def.name},         {"command", def.command}, {"args", def.args},
                     {"env", def.env},           {"url", def.url},         {"api_key_env", def.api_key_env},
                     {"timeout_ms", def.timeout_ms}};
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = clients_[key.dump()];
  if (!c && def.url.empty()) c = std::make_shared<mcp_stdio_client>(def);
  if (!c) c = std::make_shared<mcp_http_client>(def);
  return c;
}

}  // namespace cohort
