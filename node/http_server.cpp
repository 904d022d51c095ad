#include "node/http_server.hpp"

#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace cohort::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::uint32_t max_header_bytes = 16 * 1024;

std::string error_json(const std::string& kind, const std::string& message) {
  return nlohmann::json{{"error", {{"kind", kind}, {"message", message}, {"problems", nlohmann::json::array()}}}}
      .dump();
}

// One client connection: requests one after another (keep-alive), or one event stream.
class session : public event_watcher, public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, const node_options& options, const http_handler& handler, const http_observer& observer,
          std::shared_ptr<std::atomic<size_t>> connections)
      : stream_(std::move(socket)),
        options_(options),
        handler_(handler),
        observer_(observer),
        connections_(std::move(connections)) {}

  ~session() override { --*connections_; }

  void start() { read_request(); }

  void deliver(const nlohmann::json& event, bool replay) override {
    auto text = "id: " + std::to_string(event.value("seq", int64_t{0})) + "\nevent: " + event.value("kind", "event") +
                "\ndata: " + event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
    asio::post(stream_.get_executor(), [self = shared_from_this(), text = std::move(text), replay]() mutable {
      self->queue_event(std::move(text), replay);
    });
  }

  void deliver_data(const std::string& data) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), text = "data: " + data + "\n\n"]() mutable {
      self->queue_event(std::move(text));
    });
  }

  void on_close(std::function<void()> hangup) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), hangup = std::move(hangup)]() mutable {
      if (self->closed_) return hangup();
      self->hangup_ = std::move(hangup);
    });
  }

  void end() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->ending_ = true;
      if (!self->writing_) self->close();
    });
  }

 private:
  // ---- requests

  void read_request() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(max_header_bytes);
    // The first byte may take the idle time; the whole request then the header time
    // twice over (header, then body) — enforced as one deadline from here.
    stream_.expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return read_failed(ec);
    stream_.expires_after(std::chrono::milliseconds(options_.header_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->on_request(ec); });
  }

  void read_failed(error_code ec) {
    if (ec == http::error::body_limit)
      return answer_and_close(413, error_json("body_too_large", "the request body is larger than " +
                                                                    std::to_string(options_.max_body_bytes) +
                                                                    " bytes (the node's limit)"));
    if (ec == http::error::header_limit)
      return answer_and_close(431, error_json("header_too_large", "the request header is too large"));
    if (ec == beast::error::timeout && parser_ && parser_->got_some())
      return answer_and_close(408, error_json("timeout", "the request did not arrive in time"));
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::eof)
      return close();
    answer_and_close(400, error_json("bad_request", "malformed HTTP request: " + ec.message()));
  }

  void on_request(error_code ec) {
    if (ec) return read_failed(ec);
    auto req = parser_->release();
    auto began = std::chrono::steady_clock::now();
    http_reply reply;
    try {
      reply = handler_(req);
    } catch (const std::exception& e) {
      spdlog::error("node: {} {} failed: {}", std::string(req.method_string()), std::string(req.target()), e.what());
      reply = text_reply(500, error_json("internal", "the node failed to answer this request"));
    }
    std::string target(req.target());
    target = target.substr(0, target.find('?'));
    keep_alive_ = req.keep_alive();
    if (reply.later && !reply.stream) {
      // Answered on this connection's strand, once, whichever thread gives the reply.
      auto given = std::make_shared<std::atomic<bool>>(false);
      reply_sink sink = [self = shared_from_this(), given, target, began, version = req.version()](http_reply r) {
        if (given->exchange(true)) return;
        asio::post(self->stream_.get_executor(), [self, r = std::move(r), target, began, version]() mutable {
          self->answer(r, target, began, version);
        });
      };
      if (reply.on_hangup) {
        hangup_ = std::move(reply.on_hangup);
        stream_.expires_never();  // the answer may take what the model takes
        watch_while_answering();
      }
      try {
        reply.later(sink);
      } catch (const std::exception& e) {  // it failed before it could answer: answered here
        spdlog::error("node: {} {} failed: {}", std::string(req.method_string()), target, e.what());
        sink(text_reply(500, error_json("internal", "the node failed to answer this request")));
      }
      return;
    }
    answer(reply, target, began, req.version());
  }

  void answer(const http_reply& reply, const std::string& target, std::chrono::steady_clock::time_point began,
              unsigned version) {
    if (closed_) return;
    hangup_ = nullptr;  // answered: a close from now on is no hang-up
    if (watching_) stream_.socket().cancel();
    if (reply.stream) keep_alive_ = false;
    if (observer_.answered)
      observer_.answered(target, reply.stream ? 200 : reply.status,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    if (reply.stream) return start_stream(reply);
    send(make_response(reply, version));
  }

  http::response<http::string_body> make_response(const http_reply& reply, unsigned version) {
    http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
    res.set(http::field::server, "cohort-node");
    res.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res.set(name, value);
    res.keep_alive(keep_alive_);
    res.body() = reply.body;
    res.prepare_payload();
    return res;
  }

  void send(http::response<http::string_body> res) {
    response_.emplace(std::move(res));
    stream_.expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
    http::async_write(stream_, *response_, [self = shared_from_this()](error_code ec, size_t) {
      self->response_.reset();
      if (ec || !self->keep_alive_) return self->close();
      // The watch's cancelled read may not have completed yet: it reads on when it has.
      if (self->watching_) {
        self->read_after_watch_ = true;
        return;
      }
      self->read_request();
    });
  }

  void answer_and_close(unsigned status, std::string body) {
    keep_alive_ = false;
    send(make_response(text_reply(status, std::move(body)), 11));
  }

  // ---- event streams

  void start_stream(const http_reply& reply) {
    // No Content-Length: the body is the stream, until the node closes the connection.
    std::string head = "HTTP/1.1 200 OK\r\nServer: cohort-node\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n";
    stream_.expires_never();
    streaming_ = true;
    if (observer_.streams) observer_.streams(+1);
    queue_.push_back(std::move(head));
    write_next();
    watch_for_hangup();
    try {
      reply.stream(shared_from_this());
    } catch (const std::exception& e) {  // no events will come: the stream ends
      spdlog::error("node: an event stream failed to start: {}", e.what());
      ending_ = true;
      if (!writing_) close();
    }
  }

  // A client waiting for a later answer that goes away: its connection reads EOF or an
  // error, and close() tells the handler. (A client that shuts down its sending side
  // after the request looks the same: as with nginx's default, it counts as gone.) Bytes that come instead are a pipelined next
  // request: kept for the parser, and the watch ends there.
  void watch_while_answering() {
    watching_ = true;
    stream_.async_read_some(asio::buffer(hangup_buf_), [self = shared_from_this()](error_code ec, size_t n) {
      self->watching_ = false;
      if (n > 0) self->buffer_.commit(asio::buffer_copy(self->buffer_.prepare(n), asio::buffer(self->hangup_buf_, n)));
      if (ec && ec != asio::error::operation_aborted && self->hangup_) return self->close();
      if (std::exchange(self->read_after_watch_, false)) self->read_request();
    });
  }

  // A watcher that went away: its connection reads EOF or an error.
  void watch_for_hangup() {
    stream_.async_read_some(asio::buffer(hangup_buf_), [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->close();
      self->watch_for_hangup();
    });
  }

  void queue_event(std::string text, bool replay = false) {
    if (closed_ || dropped_) return;
    if (replay) ++replay_queued_;
    if (!replay && queue_.size() - replay_queued_ >= options_.watcher_queue) {
      // A watcher too slow to keep up is let go, told why, rather than buffered without bound.
      dropped_ = true;
      queue_.clear();
      replay_queued_ = 0;
      queue_.push_back("event: dropped\ndata: {\"kind\":\"dropped\",\"message\":\"this watcher fell " +
                       std::to_string(options_.watcher_queue) +
                       " events behind; reconnect with Last-Event-ID to resume\"}\n\n");
      ending_ = true;
    } else {
      queue_.push_back(std::move(text));
    }
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (queue_.empty()) {
      if (ending_) close();
      return;
    }
    writing_ = true;
    // What has queued up goes in one write: a busy run's events cost a syscall a batch, not each.
    current_.clear();
    while (!queue_.empty() && current_.size() < max_write_bytes) {
      current_ += queue_.front();
      queue_.pop_front();
      if (replay_queued_ > 0) --replay_queued_;  // the replay is queued first, so it leaves first
    }
    asio::async_write(stream_, asio::buffer(current_), [self = shared_from_this()](error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->close();
      self->write_next();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (streaming_ && observer_.streams) observer_.streams(-1);
    if (hangup_) std::exchange(hangup_, nullptr)();
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const node_options& options_;
  const http_handler& handler_;
  const http_observer& observer_;
  std::shared_ptr<std::atomic<size_t>> connections_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  bool keep_alive_ = true;
  bool streaming_ = false;
  std::deque<std::string> queue_;
  std::string current_;
  static constexpr size_t max_write_bytes = 256 * 1024;
  size_t replay_queued_ = 0;  // of queue_, the replayed log's events (at its front)
  char hangup_buf_[512];
  bool writing_ = false;
  bool watching_ = false;  // watch_while_answering's read is pending
  bool read_after_watch_ = false;  // the answer is sent: the next request is read once the watch has ended
  bool ending_ = false;
  bool dropped_ = false;
  bool closed_ = false;
  std::function<void()> hangup_;  // see on_close and http_reply::on_hangup
};

}  // namespace

http_reply text_reply(unsigned status, std::string body, std::string content_type) {
  http_reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

http_reply json_reply(unsigned status, const nlohmann::json& doc) {
  return text_reply(status, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

http_server::http_server(const node_options& options, http_handler handler, http_observer observer)
    : options_(options),
      handler_(std::move(handler)),
      observer_(std::move(observer)),
      acceptor_(asio::make_strand(io_)) {}

http_server::~http_server() { stop(); }

uint16_t http_server::start() {
  error_code ec;
  auto address = asio::ip::make_address(options_.bind, ec);
  if (ec) throw std::runtime_error("serve: --bind " + options_.bind + " is not an IP address");
  tcp::endpoint endpoint(address, options_.port);
  auto where = options_.bind + ":" + std::to_string(options_.port);
  auto check = [&](const char* step) {
    if (ec) throw std::runtime_error("serve: cannot " + std::string(step) + " " + where + ": " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  check("open a socket for");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  check("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  check("listen on");
  auto port = acceptor_.local_endpoint(ec).port();
  accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i)
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("node: I/O thread caught: {}", e.what());
        }
      }
    });
  return port;
}

void http_server::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (connections_->load() >= static_cast<size_t>(options_.max_connections)) {
        error_code ignored;
        socket.close(ignored);  // over the cap: refused at once
      } else {
        ++*connections_;
        std::make_shared<session>(std::move(socket), options_, handler_, observer_, connections_)->start();
      }
    }
    accept();
  });
}

void http_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
  });
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace cohort::node
