#pragma once
// The CLI's side of a cohort node (docs/node.md): requests over HTTP/1.1, one
// connection each and bounded in time, and a run's event stream read as it arrives,
// resumed after the last event it saw when the connection drops.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

// What the node answered with an error status (its {"error": {...}} document), or why it
// could not be reached (status 0).
class node_error : public std::runtime_error {
 public:
  node_error(unsigned status, std::string kind, const std::string& message, nlohmann::json problems = nlohmann::json::array());
  unsigned status() const { return status_; }
  const std::string& kind() const { return kind_; }
  // [{"path", "message"}]: a scenario's problems, each at its JSON path.
  const nlohmann::json& problems() const { return problems_; }

 private:
  unsigned status_;
  std::string kind_;
  nlohmann::json problems_;
};

class node_client {
 public:
  // `url`: http://HOST[:PORT] (the node speaks plain HTTP). `token`: sent as
  // "Authorization: Bearer", empty for none. Throws std::invalid_argument for a bad URL.
  node_client(const std::string& url, std::string token,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // METHOD target with an optional JSON body; the answer's JSON (null for 204).
  // Throws node_error for an error status or when the node cannot be reached in time.
  nlohmann::json call(const std::string& method, const std::string& target,
                      const nlohmann::json* body = nullptr) const;

  // How a run's event stream ended.
  enum class stream_end { finished, stopped, lost };

  // Reads GET /v1/runs/{id}/events from after event `after`, each event's JSON to
  // `on_event`, until the node ends the stream after the run's result (finished), `stop`
  // becomes true (stopped; it is looked at between reads and by a watchdog that closes
  // the connection), or the stream cannot be resumed (lost). A dropped connection or a
  // "dropped" notice is resumed with Last-Event-ID, a few times, with backoff.
  stream_end follow(const std::string& run_id, int64_t after, const std::function<void(const nlohmann::json&)>& on_event,
                    const std::atomic<bool>& stop, std::string* why_lost = nullptr) const;

  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::string host_;
  std::string port_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace cohort
