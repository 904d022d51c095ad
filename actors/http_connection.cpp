#include "actors/http_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace cohort {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

http_connection::http_connection(net::io_context& io, std::string host, std::string port,
                                 std::shared_ptr<std::atomic<int64_t>> open_count)
    : stream_(net::make_strand(io)), resolver_(stream_.get_executor()), host_(std::move(host)),
      port_(std::move(port)), open_count_(std::move(open_count)) {}

void http_connection::send(request req, std::chrono::milliseconds connect_timeout,
                           std::chrono::milliseconds request_timeout, done_fn done) {
  net::post(stream_.get_executor(), [self = shared_from_this(), req = std::move(req),
                                     connect_timeout, request_timeout,
                                     done = std::move(done)]() mutable {
    self->req_ = std::move(req);
    self->connect_timeout_ = connect_timeout;
    self->request_timeout_ = request_timeout;
    self->done_ = std::move(done);
    if (self->closed_) return;
    self->reused_ = self->connected_;
    if (self->connected_) self->write();
    else self->connect();
  });
}

// An abortive close (RST): the request is withdrawn or the connection idle, so nothing
// is lost, and no TIME_WAIT stays behind on our side. Thousands of those (one per
// connection of every cold run) slow down finding a free local port.
void http_connection::close_abortively() {
  if (!stream_.socket().is_open()) return;
  beast::error_code ignored;
  stream_.socket().set_option(net::socket_base::linger(true, 0), ignored);
  stream_.close();
  socket_closed();
}

void http_connection::socket_closed() {
  if (!counted_) return;
  counted_ = false;
  --*open_count_;
}

http_connection::~http_connection() { close_abortively(); }

void http_connection::close() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->closed_ = true;
    self->done_ = nullptr;
    self->resolver_.cancel();
    self->close_abortively();
  });
}

void http_connection::connect() {
  // An IP address needs no resolver: Asio's resolver runs getaddrinfo on one internal
  // thread, which serialises a burst of a thousand new connections.
  beast::error_code parse_error;
  auto address = net::ip::make_address(host_, parse_error);
  if (!parse_error) {
    net::ip::tcp::endpoint ep(address, static_cast<unsigned short>(std::stoi(port_)));
    stream_.expires_after(connect_timeout_);
    stream_.async_connect(ep, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
    return;
  }
  resolver_.async_resolve(host_, port_, [self = shared_from_this()](beast::error_code ec,
                                                                     net::ip::tcp::resolver::results_type results) {
    if (self->closed_) return;
    if (ec) return self->complete(self->failure(ec, "resolve"));
    self->stream_.expires_after(self->connect_timeout_);
    self->stream_.async_connect(
        results, [self](beast::error_code ec, const net::ip::tcp::endpoint&) { self->on_connect(ec); });
  });
}

void http_connection::on_connect(beast::error_code ec) {
  if (closed_) return;
  if (ec) return complete(failure(ec, "connect"));
  connected_ = true;
  counted_ = true;
  ++*open_count_;
  beast::error_code ignored;  // small requests: do not wait for Nagle
  stream_.socket().set_option(net::ip::tcp::no_delay(true), ignored);
  write();
}

void http_connection::write() {
  stream_.expires_after(request_timeout_);
  http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->complete(self->failure(ec, "send"));
    self->parser_ = std::make_unique<http::response_parser<http::string_body>>();
    self->parser_->body_limit(64 * 1024 * 1024);
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
  });
}

void http_connection::on_read(beast::error_code ec) {
  if (closed_) return;
  if (ec) return complete(failure(ec, "read"));
  auto& res = parser_->get();
  http_outcome out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end())
    out.retry_after = std::string(it->value());
  out.keep_alive = res.keep_alive();
  if (!out.keep_alive) {
    connected_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
    socket_closed();
  }
  complete(std::move(out));
}

void http_connection::complete(http_outcome out) {
  if (!out.error_kind.empty()) {
    connected_ = false;
    stream_.close();
    socket_closed();
  }
  stream_.expires_never();
  if (auto done = std::move(done_)) {
    done_ = nullptr;
    done(std::move(out));
  }
}

http_outcome http_connection::failure(beast::error_code ec, const char* stage) const {
  http_outcome out;
  auto where = host_ + ":" + port_;
  bool nothing_received = !parser_ || !parser_->got_some();
  out.stale = reused_ && nothing_received && std::string(stage) != "connect";
  if (ec == beast::error::timeout) {
    out.error_kind = "timeout";
    auto ms = std::string(stage) == "connect" ? connect_timeout_ : request_timeout_;
    out.error = std::string(stage == std::string("connect") ? "connecting to " : "no response from ") +
                where + " within " + std::to_string(ms.count()) + " ms";
  } else if (ec == net::error::connection_refused) {
    out.error_kind = "connection_refused";
    out.error = "connection refused by " + where;
  } else if (ec == http::error::end_of_stream || ec == net::error::eof ||
             ec == net::error::connection_reset || ec == net::error::broken_pipe ||
             ec == http::error::partial_message) {
    out.error_kind = "connection_reset";
    out.error = where + " closed the connection " +
                (nothing_received ? std::string("before any response")
                                  : std::string("in the middle of the response")) +
                " (" + ec.message() + ")";
  } else if (std::string(stage) == "read" && ec.category() == http::make_error_code(http::error::bad_version).category()) {
    out.error_kind = "malformed_response";
    out.error = "malformed HTTP response from " + where + ": " + ec.message();
  } else {
    out.error_kind = "connection";
    out.error = std::string(stage) + " " + where + " failed: " + ec.message();
  }
  return out;
}

}  // namespace cohort
