#pragma once
// The node's HTTP/1.1 server: Boost.Beast on an io_context of its own threads, with
// keep-alive, a body limit (413), header and body read timeouts (408), an idle
// timeout, and a cap on open connections. A handler answers each request with a
// reply, or with an event stream the server writes as Server-Sent Events.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "node/node_options.hpp"

namespace cohort::node {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

// Where a run's events go: an SSE connection. Called from any thread, in order.
class event_watcher {
 public:
  virtual ~event_watcher() = default;
  // One event; it carries "seq" (the SSE id) and "kind" (the SSE event name).
  // `replay`: from the run's log, sent when the watcher connected. The slow-watcher limit
  // counts live events only, so a late watcher of a long log is not let go for its
  // history (which the log bounds) before it had a chance to read it.
  virtual void deliver(const nlohmann::json& event, bool replay = false) = 0;
  // No more events: the stream ends once what is queued is written.
  virtual void end() = 0;
  // One event of the form OpenAI streams: "data: <data>" alone, no id or name.
  virtual void deliver_data(const std::string& data) = 0;
  // `hangup` is called once when the connection closes (the client went away, or the
  // stream ended): work done only for this watcher can stop. Set it before the first event.
  virtual void on_close(std::function<void()> hangup) = 0;
};

struct http_reply;
// How a handler that answers later gives its reply: once, from any thread.
using reply_sink = std::function<void(http_reply)>;

struct http_reply {
  unsigned status = 200;
  std::string body;                 // JSON, unless content_type says otherwise
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the answer is an event stream; the server calls it once with the watcher
  // that writes to this connection (and keeps the connection open for it).
  std::function<void(const std::shared_ptr<event_watcher>&)> stream;
  // Set (and `stream` not): the answer comes later; the server calls it once with the
  // sink to give it to (an I/O thread is never held while, say, a model answers).
  std::function<void(reply_sink)> later;
  // With `later`: called once, from an I/O thread, when the client hangs up before the
  // answer is given, so work done only for that answer can stop.
  std::function<void()> on_hangup;
};

// A reply of `body` as it is, and one of a JSON document (text that is not UTF-8 replaced).
http_reply text_reply(unsigned status, std::string body, std::string content_type = "application/json");
http_reply json_reply(unsigned status, const nlohmann::json& doc);

using http_handler = std::function<http_reply(const http_request&)>;

// What the server tells about its traffic (the node's metrics).
struct http_observer {
  std::function<void(const std::string& path, unsigned status, double seconds)> answered;
  std::function<void(int delta)> streams;  // +1 an event stream opened, -1 it closed
};

class http_server {
 public:
  http_server(const node_options& options, http_handler handler, http_observer observer = {});
  ~http_server();  // stop()

  // Binds and starts the I/O threads; returns the port. Throws std::runtime_error.
  uint16_t start();
  // Stops accepting; open connections are closed. Idempotent.
  void stop();
  size_t open_connections() const { return connections_->load(); }

 private:
  void accept();

  node_options options_;
  http_handler handler_;
  http_observer observer_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::atomic<size_t>> connections_ = std::make_shared<std::atomic<size_t>>(0);
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace cohort::node
