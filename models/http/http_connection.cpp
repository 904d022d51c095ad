#include "models/http/http_connection.hpp"

#include <optional>
#include <type_traits>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "models/http/tls_client.hpp"
#include "spec/model_reader.hpp"

namespace cohort {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;

// A concrete executor, not any_io_executor: every handler of every call goes through
// it, and the type-erased one costs an allocation and indirect calls each time.
using executor = net::strand<net::io_context::executor_type>;
using plain_stream = net::basic_stream_socket<net::ip::tcp, executor>;
using tls_stream = beast::ssl_stream<plain_stream>;
using steady_timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                               net::wait_traits<std::chrono::steady_clock>, executor>;
using clock = std::chrono::steady_clock;

// The same connection over a plain TCP stream or a TLS one: the TLS variant only adds
// the handshake (and its errors), so plain http pays nothing for TLS.
// A server may send a few interim answers (100, 103) before the real one; endless ones are an attack.
constexpr int max_interim_answers = 32;

template <class Stream>
class connection final : public http_connection, public std::enable_shared_from_this<connection<Stream>> {
  static constexpr bool tls = std::is_same_v<Stream, tls_stream>;

 public:
  connection(net::io_context& io, std::string host, std::string port, std::shared_ptr<ssl::context> ctx, bool verify,
             std::shared_ptr<std::atomic<int64_t>> open_count)
      : ctx_(std::move(ctx)), stream_(make_stream(io, ctx_.get())), resolver_(stream_.get_executor()),
        timer_(stream_.get_executor()), host_(std::move(host)), port_(std::move(port)), verify_(verify), open_count_(std::move(open_count)) {}

  // An open socket still here (the I/O threads stopped before close() ran) ends abortively too.
  ~connection() override { close_abortively(); }

  void send(encode_fn encode, std::chrono::milliseconds connect_timeout, std::chrono::milliseconds request_timeout,
            done_fn done, data_fn on_data) override {
    net::post(stream_.get_executor(), [self = this->shared_from_this(), encode = std::move(encode), connect_timeout,
                                       request_timeout, done = std::move(done), on_data = std::move(on_data)]() mutable {
      if (self->closed_) return;
      self->request_ = encode();
      self->connect_timeout_ = connect_timeout;
      self->request_timeout_ = request_timeout;
      self->done_ = std::move(done);
      self->on_data_ = std::move(on_data);
      self->reused_ = self->connected_;
      if (self->connected_) self->write();
      else self->connect();
    });
  }

  void close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stop_waiting();
      self->close_abortively();
    });
  }

  void close_gracefully() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stop_waiting();
      if (!self->tcp().is_open()) return;
      // Over TLS the close_notify alert would need a round trip of its own: the FIN
      // below is what servers count as an orderly close.
      beast::error_code ignored;
      self->tcp().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
      self->tcp().close(ignored);
      self->socket_closed();
    });
  }

 private:
  static Stream make_stream(net::io_context& io, ssl::context* ctx) {
    if constexpr (tls) return Stream(net::make_strand(io), *ctx);
    else return Stream(net::make_strand(io));
  }

  plain_stream& tcp() { return beast::get_lowest_layer(stream_); }

  // Closing: no callback runs any more, and nothing pending holds the connection.
  void stop_waiting() {
    closed_ = true;
    done_ = nullptr;
    on_data_ = nullptr;
    resolver_.cancel();
    timer_.cancel();  // its pending wait holds the connection
  }

  // One timer a connection, not one per I/O operation (as Beast's tcp_stream keeps):
  // a stage sets the deadline, and the timer, waiting for the earliest deadline it
  // was armed for, checks the current one when it fires. So a call on a busy
  // connection usually touches no timer at all.
  void expire_at(clock::time_point deadline) {
    deadline_ = deadline;
    timed_out_ = false;
    if (timer_armed_ && timer_.expiry() <= deadline) return;  // it fires first and re-arms
    arm_timer(deadline);
  }

  void expire_never() { deadline_ = clock::time_point::max(); }

  void arm_timer(clock::time_point at) {
    timer_armed_ = true;
    timer_.expires_at(at);  // a wait pending for a later time ends with operation_aborted
    timer_.async_wait([self = this->shared_from_this(), at](beast::error_code ec) {
      if (ec || self->closed_ || self->timer_.expiry() != at) return;  // re-armed or closed
      self->timer_armed_ = false;
      if (self->deadline_ == clock::time_point::max()) return;  // idle: the next stage arms it
      if (clock::now() < self->deadline_) return self->arm_timer(self->deadline_);
      // Past the deadline: close, as Beast's stream did. Cancelling alone would miss an
      // operation whose completion is already queued and let the next one run with no
      // deadline; and a connect over several resolved addresses would try the next.
      // Whatever the connection does next fails, and is read as this timeout.
      self->timed_out_ = true;
      self->connected_ = false;
      self->close_abortively();
    });
  }

  // An operation that failed after the deadline closed the socket failed by timeout.
  beast::error_code checked(beast::error_code ec) const { return timed_out_ && ec ? beast::error::timeout : ec; }

  // An abortive close (RST): the request is withdrawn or the connection idle, so nothing
  // is lost, and no TIME_WAIT stays behind on our side. Thousands of those (one per
  // connection of every cold run) slow down finding a free local port.
  void close_abortively() {
    if (!tcp().is_open()) return;
    beast::error_code ignored;
    tcp().set_option(net::socket_base::linger(true, 0), ignored);
    tcp().close(ignored);
    socket_closed();
  }

  void socket_closed() {
    if (!counted_) return;
    counted_ = false;
    --*open_count_;
  }

  void connect() {
    // An IP address needs no resolver: Asio's resolver runs getaddrinfo on one internal
    // thread, which serialises a burst of a thousand new connections.
    beast::error_code parse_error;
    auto address = net::ip::make_address(host_, parse_error);
    if (!parse_error) {
      // The port was checked where the URL was read; a bad one here fails this request, not the I/O thread.
      if (!detail::usable_port(port_)) return complete(failure(beast::error_code(net::error::invalid_argument), "connect"));
      net::ip::tcp::endpoint ep(address, static_cast<unsigned short>(std::stoi(port_)));
      expire_at(clock::now() + connect_timeout_);
      tcp().async_connect(ep, [self = this->shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
      return;
    }
    resolver_.async_resolve(host_, port_, [self = this->shared_from_this()](
                                              beast::error_code ec, net::ip::tcp::resolver::results_type results) {
      if (self->closed_) return;
      if (ec) return self->complete(self->failure(ec, "resolve"));
      self->expire_at(clock::now() + self->connect_timeout_);
      net::async_connect(self->tcp(), results,
                         [self](beast::error_code ec, const net::ip::tcp::endpoint&) { self->on_connect(ec); });
    });
  }

  void on_connect(beast::error_code ec) {
    if (closed_) return;
    if (ec) return complete(failure(checked(ec), "connect"));
    connected_ = true;
    counted_ = true;
    ++*open_count_;
    beast::error_code ignored;  // small requests: do not wait for Nagle
    tcp().set_option(net::ip::tcp::no_delay(true), ignored);
    if constexpr (tls) {
      if (!prepare_tls_client(stream_.native_handle(), host_, verify_)) {
        http_outcome out;
        out.error_kind = "tls";
        out.error = "OpenSSL refused the server name \"" + host_ + "\" for SNI or certificate checking";
        return complete(std::move(out));
      }
      stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
        if (self->closed_) return;
        if (ec) return self->complete(self->failure(self->checked(ec), "handshake"));
        self->write();
      });
    } else {
      write();
    }
  }

  void write() {
    parser_.reset();  // the last response's parser must not count as "something received"
    expire_at(clock::now() + request_timeout_);
    net::async_write(stream_, net::buffer(request_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->complete(self->failure(self->checked(ec), "send"));
      self->interim_ = 0;
      self->read_header();
    });
  }

  // The header first. Interim answers (100 Continue, 103 Early Hints) come before the
  // real one and are skipped, as RFC 9110 says (a bounded number of them). A streamed
  // 200 then hands out its body as it comes; anything else is read whole.
  void read_header() {
    parser_.emplace();
    parser_->body_limit(64 * 1024 * 1024);
    http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->complete(self->failure(self->checked(ec), "read"));
      auto status = self->parser_->get().result_int();
      if (status >= 100 && status < 200) return self->interim_answer(status);
      if (self->on_data_ && status == 200) return self->read_stream_body();
      self->on_data_ = nullptr;
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
    });
  }

  void interim_answer(unsigned status) {
    // 101 would switch protocols, which no request of ours asks for.
    if (status == 101 || ++interim_ > max_interim_answers) {
      http_outcome out;
      out.error_kind = "malformed_response";
      out.error = "malformed HTTP response from " + host_ + ":" + port_ + ": " +
                  (status == 101 ? std::string("101 Switching Protocols, which was not asked for")
                                 : "more than " + std::to_string(max_interim_answers) + " interim (1xx) responses");
      return complete(std::move(out));
    }
    read_header();
  }

  void read_stream_body() {
    if (pass_on_body(); parser_->is_done()) return on_read({});
    http::async_read_some(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->complete(self->failure(self->checked(ec), "read"));
      self->read_stream_body();
    });
  }

  // string_body appends at the string's current end, so emptying it between reads is safe.
  void pass_on_body() {
    auto& body = parser_->get().body();
    if (body.empty()) return;
    on_data_(body);
    body.clear();
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (ec) return complete(failure(checked(ec), "read"));
    auto& res = parser_->get();
    http_outcome out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
    if (auto it = res.find("Mcp-Session-Id"); it != res.end()) out.session_id = std::string(it->value());
    out.keep_alive = res.keep_alive();
    if (!out.keep_alive) {
      connected_ = false;
      beast::error_code ignored;
      tcp().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
      tcp().close(ignored);
      socket_closed();
    }
    complete(std::move(out));
  }

  void complete(http_outcome out) {
    if (!out.error_kind.empty()) {
      connected_ = false;
      beast::error_code ignored;
      tcp().close(ignored);
      socket_closed();
    }
    expire_never();
    on_data_ = nullptr;
    if (auto done = std::move(done_)) {
      done_ = nullptr;
      done(std::move(out));
    }
  }

  http_outcome failure(beast::error_code ec, const char* stage_name) {
    http_outcome out;
    std::string stage(stage_name);
    auto where = host_ + ":" + port_;
    bool nothing_received = interim_ == 0 && (!parser_ || !parser_->got_some());
    // A slow server is not a stale connection: resending would only double the wait.
    out.stale = reused_ && nothing_received && stage != "connect" && ec != beast::error::timeout;
    if (ec == beast::error::timeout) {
      out.error_kind = "timeout";
      auto ms = stage == "connect" || stage == "handshake" ? connect_timeout_ : request_timeout_;
      out.error = std::string(stage == "connect" ? "connecting to " : stage == "handshake" ? "no TLS handshake with " : "no response from ") +
                  where + " within " + std::to_string(ms.count()) + " ms";
    } else if (ec == net::error::connection_refused) {
      out.error_kind = "connection_refused";
      out.error = "connection refused by " + where;
    } else if (stage == "handshake") {
      if constexpr (tls) {
        auto why = verify_ ? tls_verify_failure(stream_.native_handle()) : std::string();
        if (!why.empty()) {
          // A configuration problem, not a flaky server: its own kind, which a node's retry does not retry.
          out.error_kind = "tls_verify";
          out.error = "the TLS certificate of " + where + " could not be verified: " + why +
                      " (give the CA that signed it as \"ca_file\"; \"tls_verify\": false skips the check, unsafely)";
          return out;
        }
      }
      out.error_kind = "tls";
      out.error = "TLS handshake with " + where + " failed: " + ec.message();
    } else if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
               ec == net::error::broken_pipe || ec == http::error::partial_message || ec == ssl::error::stream_truncated) {
      out.error_kind = "connection_reset";
      out.error = where + " closed the connection " +
                  (nothing_received ? std::string("before any response") : std::string("in the middle of the response")) +
                  " (" + ec.message() + ")";
    } else if (stage == "read" && ec.category() == http::make_error_code(http::error::bad_version).category()) {
      out.error_kind = "malformed_response";
      out.error = "malformed HTTP response from " + where + ": " + ec.message();
    } else {
      out.error_kind = "connection";
      out.error = stage + " " + where + " failed: " + ec.message();
    }
    return out;
  }

  std::shared_ptr<ssl::context> ctx_;  // before the stream: outlives its SSL object
  Stream stream_;
  net::ip::basic_resolver<net::ip::tcp, executor> resolver_;
  steady_timer timer_;
  clock::time_point deadline_ = clock::time_point::max();  // of the stage in progress
  bool timer_armed_ = false;  // a wait is pending
  bool timed_out_ = false;    // the deadline cancelled the pending operation
  std::string host_;
  std::string port_;
  bool verify_ = true;
  beast::flat_buffer buffer_;
  std::string request_;  // its bytes, whole (written at once)
  std::optional<http::response_parser<http::string_body>> parser_;
  int interim_ = 0;  // 1xx answers skipped before this request's real one
  std::chrono::milliseconds connect_timeout_{5000};
  std::chrono::milliseconds request_timeout_{120000};
  done_fn done_;
  data_fn on_data_;
  bool connected_ = false;
  bool reused_ = false;
  bool closed_ = false;
  std::shared_ptr<std::atomic<int64_t>> open_count_;
  bool counted_ = false;  // in open_count_
};

}  // namespace

std::shared_ptr<http_connection> make_http_connection(net::io_context& io, std::string host, std::string port,
                                                      std::shared_ptr<ssl::context> tls, bool verify,
                                                      std::shared_ptr<std::atomic<int64_t>> open_count) {
  if (tls)
    return std::make_shared<connection<tls_stream>>(io, std::move(host), std::move(port), std::move(tls), verify,
                                                    std::move(open_count));
  return std::make_shared<connection<plain_stream>>(io, std::move(host), std::move(port), nullptr, verify,
                                                    std::move(open_count));
}

}  // namespace cohort
