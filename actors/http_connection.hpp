#pragma once
#include <atomic>
// One keep-alive HTTP/1.1 connection to an endpoint, driven on the shared io_context.
// It knows nothing of actors: the owner passes a callback, which runs on an I/O
// thread and should only post a message.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <caf/meta/type_name.hpp>

namespace cohort {

struct http_outcome {
  int status = 0;               // 0 when no response arrived
  std::string body;
  std::string retry_after;      // the Retry-After header, if any
  std::string error_kind;       // empty on a complete response
  std::string error;
  bool keep_alive = false;
  bool stale = false;           // a reused connection failed before any reply: safe to retry
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_outcome& x) {
  return f(caf::meta::type_name("cohort.http_outcome"), x.status, x.body, x.retry_after,
           x.error_kind, x.error, x.keep_alive, x.stale);
}

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using done_fn = std::function<void(http_outcome)>;

  // `open_count` counts this connection while its socket is connected.
  http_connection(boost::asio::io_context& io, std::string host, std::string port,
                  std::shared_ptr<std::atomic<int64_t>> open_count);
  // An open socket still here (the I/O threads stopped before close() ran) ends abortively too.
  ~http_connection();

  // Sends one request (connecting first if needed) and calls `done` exactly once,
  // unless close() came first.
  void send(request req, std::chrono::milliseconds connect_timeout,
            std::chrono::milliseconds request_timeout, done_fn done);

  // Closes the socket at once (from any thread); a pending send completes silently.
  void close();

 private:
  void connect();
  void on_connect(boost::beast::error_code ec);
  void write();
  void on_read(boost::beast::error_code ec);
  void complete(http_outcome out);
  http_outcome failure(boost::beast::error_code ec, const char* stage) const;
  void close_abortively();
  void socket_closed();

  boost::beast::tcp_stream stream_;
  boost::asio::ip::tcp::resolver resolver_;
  std::string host_;
  std::string port_;
  boost::beast::flat_buffer buffer_;
  request req_;
  std::unique_ptr<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  std::chrono::milliseconds connect_timeout_{5000};
  std::chrono::milliseconds request_timeout_{120000};
  done_fn done_;
  bool connected_ = false;
  bool reused_ = false;
  bool closed_ = false;
  std::shared_ptr<std::atomic<int64_t>> open_count_;
  bool counted_ = false;  // in open_count_
};

}  // namespace cohort
