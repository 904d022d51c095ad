#pragma once
// What cohort asks of an MCP (Model Context Protocol) server, whatever carries it:
// the handshake's parameters, tools/list (every page), tools/call, a tool result as a
// tool's output, and the runtime's registry of clients, one per server definition
// (docs/tools.md). The transports: mcp_stdio_client (a child process, JSON-RPC on its
// stdin and stdout) and mcp_http_client (Streamable HTTP). Thread-safe; no CAF.
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

// kind: "mcp_unavailable" (the server did not start, cannot be reached, or died),
// "timeout", "mcp_error" (an error answer, or a tool result marked isError).
struct mcp_error : std::runtime_error {
  mcp_error(std::string kind, const std::string& message) : std::runtime_error(message), kind(std::move(kind)) {}
  std::string kind;
};

// The MCP version this client speaks, and its initialize request's parameters.
constexpr const char* mcp_protocol_version = "2025-06-18";
nlohmann::json mcp_initialize_params();

// A JSON-RPC error object a server answered, as an mcp_error naming the server.
mcp_error mcp_error_answer(const std::string& server, const nlohmann::json& error);

class mcp_client {
 public:
  explicit mcp_client(mcp_server_def def) : def_(std::move(def)) {}
  virtual ~mcp_client() = default;
  mcp_client(const mcp_client&) = delete;
  mcp_client& operator=(const mcp_client&) = delete;

  // tools/list, every page: [{"name", "description", "inputSchema"}, ...].
  nlohmann::json list_tools();

  // tools/call: the result ({"content": [...], "structuredContent"?}); throws mcp_error,
  // kind mcp_error with the tool's text when the result says isError. timeout_ms 0: the server's.
  nlohmann::json call_tool(const std::string& name, const nlohmann::json& arguments, int timeout_ms = 0);

 protected:
  // One JSON-RPC request, after the handshake (made first when needed): its result.
  // Throws mcp_error.
  virtual nlohmann::json request(const std::string& method, nlohmann::json params, int timeout_ms) = 0;

  mcp_server_def def_;
};

// A tool result as a tool's output: its structuredContent, else the text of its
// content, else the content itself (images, resources).
nlohmann::json mcp_output(const nlohmann::json& result);

// A runtime's MCP clients: one a server definition, started on first use, ended with
// the registry (the runtime's end).
class mcp_registry : public std::enable_shared_from_this<mcp_registry> {
 public:
  std::shared_ptr<mcp_client> client(const mcp_server_def& def);

  // What the scenario loader lists a server's tools with: this registry's client of it.
  mcp_tool_lister lister();

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<mcp_client>> clients_;  // by name and definition
};

}  // namespace cohort
