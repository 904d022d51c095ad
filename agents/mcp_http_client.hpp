#pragma once
// A client of one MCP server over the Streamable HTTP transport (MCP 2025-06-18): each
// JSON-RPC message is a POST to the server's endpoint, answered with JSON or with a
// stream of server-sent events that carries the answer. The session the server gives
// at initialize (Mcp-Session-Id) goes with every later request; a server that no longer
// knows it (404, or 400 after a restart) gets a fresh handshake and the request once
// more. Every request has a timeout; a broken connection fails its request at once;
// requests the server makes of us on a stream are answered "method not found". Its own
// I/O thread; thread-safe; no CAF.
#include <memory>

#include "agents/mcp_client.hpp"

namespace cohort {

class mcp_http_client : public mcp_client {
 public:
  explicit mcp_http_client(mcp_server_def def);  // def.url was checked where the scenario loaded
  ~mcp_http_client() override;                   // ends the session (a DELETE, briefly), then the I/O thread

 protected:
  nlohmann::json request(const std::string& method, nlohmann::json params, int timeout_ms) override;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace cohort
