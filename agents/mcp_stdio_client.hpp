#pragma once
// A client of one MCP (Model Context Protocol) server over the stdio transport: the
// server is a child process of its own, spoken to in JSON-RPC 2.0, one message a line
// on its stdin and stdout. Started on first use (initialize, then initialized), started
// again on the next use after it died; every request has a timeout; a server that dies
// fails the requests in flight at once. Notifications are ignored, and requests from
// the server are answered "method not found". Thread-safe; no CAF.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/mcp_client.hpp"

namespace cohort {

class mcp_stdio_client : public mcp_client {
 public:
  explicit mcp_stdio_client(mcp_server_def def);
  ~mcp_stdio_client() override;  // ends the server: its stdin closed, then SIGTERM, SIGKILL (its process group)
  mcp_stdio_client(const mcp_stdio_client&) = delete;
  mcp_stdio_client& operator=(const mcp_stdio_client&) = delete;

  // The running server's process id (0: not running), for tests that kill it.
  int pid() const;

 private:
  struct pending;

  nlohmann::json request(const std::string& method, nlohmann::json params, int timeout_ms) override;
  nlohmann::json request_started(const std::string& method, nlohmann::json params);
  void ensure_started();
  void start();
  void send_line(const nlohmann::json& message);  // with mutex_ held
  void read_loop(int fd, int exit_fd, uint64_t generation);  // exit_fd: the server's pidfd (or -1)
  void answer(const nlohmann::json& message);
  void refuse(const nlohmann::json& id);  // with mutex_ held
  void server_gone(uint64_t generation, const std::string& why);
  void stop();

  std::mutex start_mutex_;  // one start at a time
  mutable std::mutex mutex_;
  int pid_ = 0;
  int in_fd_ = -1;   // the server's stdin (a socket: a write to a dead server is an error, not SIGPIPE)
  int out_fd_ = -1;  // its stdout
  bool alive_ = false;
  bool initialized_ = false;
  uint64_t generation_ = 0;  // which start the reader thread belongs to
  int64_t next_id_ = 1;
  std::map<int64_t, std::shared_ptr<pending>> pending_;
  std::thread reader_;
};

}  // namespace cohort
