#pragma once
// One keep-alive HTTP/1.1 connection to an endpoint, plain or TLS, driven on the
// shared io_context. It knows nothing of actors: the owner passes a callback, which
// runs on an I/O thread and should only post a message.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace cohort {

struct http_outcome {
  int status = 0;               // 0 when no response arrived
  std::string body;             // with on_data: only for a status other than 200
  std::string retry_after;      // the Retry-After header, if any
  std::string session_id;       // the Mcp-Session-Id header (an MCP server's session), if any
  std::string error_kind;       // empty on a complete response
  std::string error;
  bool keep_alive = false;
  bool stale = false;           // a reused connection failed before any reply: safe to retry
};

class http_connection {
 public:
  // Makes the request's bytes, on the connection's I/O thread (keeping the encoding
  // off the caller); it is called once per send.
  using encode_fn = std::function<std::string()>;
  using done_fn = std::function<void(http_outcome)>;
  // Body bytes of a 200 response as they arrive (a streamed answer).
  using data_fn = std::function<void(const std::string&)>;

  virtual ~http_connection() = default;

  // Sends one request, the bytes `encode` makes (connecting first if needed), and
  // calls `done` exactly once, unless close() came first. With `on_data`, a 200 response's body goes there
  // piece by piece instead of into http_outcome::body.
  virtual void send(encode_fn encode, std::chrono::milliseconds connect_timeout,
                    std::chrono::milliseconds request_timeout, done_fn done, data_fn on_data = nullptr) = 0;

  // Closes the socket at once with a reset (from any thread); a pending send completes
  // silently. For a withdrawn request: the server learns at once, and no TIME_WAIT stays.
  virtual void close() = 0;

  // Closes an idle keep-alive connection the orderly way (FIN), as servers expect at
  // the end of a run: nginx or vLLM would log a reset for each one closed by close().
  virtual void close_gracefully() = 0;
};

// `tls`: null for http://, else the endpoint's TLS context (see tls_client.hpp), with
// `verify` as the context was made. `open_count` counts the connection while its
// socket is connected.
std::shared_ptr<http_connection> make_http_connection(boost::asio::io_context& io, std::string host,
                                                      std::string port,
                                                      std::shared_ptr<boost::asio::ssl::context> tls, bool verify,
                                                      std::shared_ptr<std::atomic<int64_t>> open_count);

}  // namespace cohort
