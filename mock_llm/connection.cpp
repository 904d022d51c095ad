#include "mock_llm/connection.hpp"

#include <optional>
#include <type_traits>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "mock_llm/answers.hpp"
#include "mock_llm/read_deadline.hpp"
#include "mock_llm/routes.hpp"
#include "mock_llm/socket_peek.hpp"

namespace cohort::mock_llm {
namespace {

// LLM prompts can be long; the limits only keep a broken client from eating memory.
constexpr std::uint64_t max_body_bytes = 64ull * 1024 * 1024;
constexpr std::uint32_t max_header_bytes = 64 * 1024;

// One client connection. Every member runs on the connection's strand (the
// socket's executor), except close(), which posts there.

// `Socket`: tcp::socket, or an ssl::stream over one (--tls): the TLS one only adds
// the handshake; the socket-level calls go to its lowest layer.
template <class Socket>
class connection final : public connection_base, public std::enable_shared_from_this<connection<Socket>> {
  static constexpr bool tls = !std::is_same_v<Socket, tcp::socket>;

 public:
  connection(Socket socket, std::shared_ptr<server_state> state)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        read_deadline_(socket_.get_executor()),
        state_(std::move(state)) {}

  ~connection() { release(); }

  void start() {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (tls) {
        self->socket_.async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
          if (self->closed_) return;
          if (ec) {
            ++self->state_->count().tls_handshake_failures;  // e.g. the client did not trust the certificate
            return self->shutdown();
          }
          self->read_header();
        });
      } else {
        self->read_header();
      }
    });
  }

  void close() override {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->shutdown(); });
  }

 private:
  // The live SSE response: the serializer refers to `header`, so neither moves.
  struct sse_stream {
    http::response<http::empty_body> header;
    http::response_serializer<http::empty_body> serializer{header};
    sse_event_plan plan;
    std::size_t next = 0;
    steady::time_point started;
    std::string writing;  // the event being written; must outlive the write
  };

  // ----- reading requests

  // Waiting for a request has two deadlines: the idle one until its first byte, the
  // header one from there (and as long again for the body). Over TLS the first byte
  // cannot be seen below the encryption, so the idle deadline covers the header too.
  void read_header() {
    parser_.emplace();
    parser_->body_limit(max_body_bytes);
    parser_->header_limit(max_header_bytes);
    if (tls || buffer_.size() > 0) return begin_header(tls ? idle_timeout() : header_timeout());
    arm_read_deadline(idle_timeout(), read_phase::idle);
    socket_.lowest_layer().async_wait(tcp::socket::wait_read, [self = this->shared_from_this()](error_code ec) {
      if (self->closed_) return;
      if (ec) return self->on_read_error(ec);
      self->begin_header(self->header_timeout());
    });
  }

  void begin_header(std::chrono::milliseconds limit) {
    arm_read_deadline(limit, read_phase::request);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  using ms = std::chrono::milliseconds;
  ms idle_timeout() const { return ms(state_->options().idle_timeout_ms); }
  ms header_timeout() const { return ms(state_->options().header_timeout_ms); }

  // The read in progress gets `limit`; when it passes, the read is cancelled and
  // on_read_error sees the deadline timed out.
  void arm_read_deadline(std::chrono::milliseconds limit, read_phase phase) {
    read_deadline_.arm(limit, phase, [self = this->shared_from_this()] {
      if (self->closed_) return;
      error_code ignored;
      self->socket_.lowest_layer().cancel(ignored);
    });
  }

  void on_header(error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    // curl sends "Expect: 100-continue" for larger bodies and otherwise waits a second.
    auto expect = parser_->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const std::string continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(continue_line),
                        [self = this->shared_from_this()](error_code ec, std::size_t) {
                          if (self->closed_) return;
                          if (ec) return self->shutdown();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    arm_read_deadline(header_timeout(), read_phase::request);
    http::async_read(socket_, buffer_, *parser_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(error_code ec) {
    read_deadline_.disarm();
    if (read_deadline_.timed_out()) {
      ++state_->count().timed_out_connections;
      if (read_deadline_.phase() == read_phase::idle) return shutdown();
      keep_alive_ = false;  // the request was cut short: say so, then close
      return send(request_timeout_answer(state_->options().header_timeout_ms));
    }
    bool peer_gone = ec == http::error::end_of_stream || ec == asio::error::eof ||
                     ec == asio::error::connection_reset || ec == http::error::partial_message ||
                     ec == asio::error::operation_aborted;
    if (peer_gone) return shutdown();
    // A broken request: say why, then close, since the stream position is unknown.
    keep_alive_ = false;
    send(bad_request_answer(ec == http::error::body_limit, ec.message()));
  }

  // ----- routing

  void on_request() {
    read_deadline_.disarm();
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    try {
      auto routed = route(req, *state_);
      if (routed.answer) return send(std::move(*routed.answer));
      begin_job(std::move(routed.job));
    } catch (const std::exception& e) {
      // Only a bug gets here; answer rather than leave the client waiting.
      spdlog::error("mock-llm: request failed: {}", e.what());
      send(json_response(http::status::internal_server_error, error_doc(e.what(), "server_error"), version_,
                         keep_alive_));
    }
  }

  // ----- processing a chat request: wait, then answer or misbehave

  void begin_job(chat_job job) {
    job_ = std::move(job);
    job_active_ = true;
    ++state_->count().in_flight;
    watch_client();
    if (job_.injected == fault::hang) {
      count_fault(fault::hang);  // and never answer: only the client or stop() ends it
      return;
    }
    if (job_.stream && job_.injected == fault::none) return start_stream();
    timer_.expires_after(job_.latency);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      self->deliver();
    });
  }

  void deliver() {
    stop_watch();
    if (job_.injected != fault::none) count_fault(job_.injected);
    if (job_.injected == fault::drop) {
      end_job();
      return shutdown();
    }
    send(job_answer(job_, version_, keep_alive_, state_->options().retry_after_s), job_.injected == fault::none);
  }

  void count_completed() {
    ++state_->count().completed;
    state_->count().prompt_tokens += static_cast<std::uint64_t>(job_.answer.prompt_tokens);
    state_->count().completion_tokens += static_cast<std::uint64_t>(job_.answer.completion_tokens);
  }

  void count_fault(fault f) { ++state_->count().faults[fault_index(f)]; }

  void end_job() {
    if (!job_active_) return;
    job_active_ = false;
    --state_->count().in_flight;
    timer_.cancel();
  }

  // ----- streaming (SSE over chunked encoding, so keep-alive still works)

  void start_stream() {
    stream_ = std::make_unique<sse_stream>();
    auto& h = stream_->header;
    h.result(http::status::ok);
    h.version(version_);
    h.set(http::field::server, server_name);
    h.set(http::field::content_type, "text/event-stream");
    h.set(http::field::cache_control, "no-cache");
    h.keep_alive(keep_alive_);
    h.chunked(true);
    stream_->plan = plan_stream(job_);
    stream_->started = steady::now();
    http::async_write_header(socket_, stream_->serializer, [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->on_stream_write(ec);
    });
  }

  void on_stream_write(error_code ec) {
    if (closed_) return;
    if (ec) return client_went_away();
    auto& s = *stream_;
    if (s.next == s.plan.events.size()) {
      // [DONE] is out; only the terminating chunk is left. Count the answer now, as
      // send() does, before the client can see the end of the response.
      stop_watch();
      count_completed();
      end_job();
      asio::async_write(socket_, http::make_chunk_last(),
                        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_stream_done(ec); });
      return;
    }
    auto due = s.started + s.plan.due[s.next];
    if (due <= steady::now()) return write_next_event();
    timer_.expires_at(due);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      self->write_next_event();
    });
  }

  void write_next_event() {
    auto& s = *stream_;
    s.writing = s.plan.events[s.next++];
    asio::async_write(socket_, http::make_chunk(asio::buffer(s.writing)),
                      [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_stream_write(ec); });
  }

  void on_stream_done(error_code ec) {
    if (closed_) return;
    if (ec) return shutdown();
    after_response();
  }

  // ----- noticing a client that leaves mid-request
  //
  // While a request waits (latency, hang, stream) nothing reads the socket, so a
  // close would go unseen until the answer. Waiting for readability shows it at
  // once: readable with no bytes available means EOF (or an error).

  void watch_client() {
    watching_ = true;
    socket_.lowest_layer().async_wait(tcp::socket::wait_read, [self = this->shared_from_this(), generation = watch_generation_](
                                                   error_code ec) { self->on_client_readable(ec, generation); });
  }

  void on_client_readable(error_code ec, unsigned generation) {
    // A stale wake-up (its job already ended) or a cancellation: nothing to do.
    if (closed_ || generation != watch_generation_ || ec == asio::error::operation_aborted) return;
    watching_ = false;
    if (ec) return client_went_away();
    auto seen = peek_socket(socket_.lowest_layer().native_handle());
    if (seen == peeked::nothing_yet) return watch_client();
    if (seen == peeked::closed) return client_went_away();
    // The client sent more bytes (a pipelined request). They stay buffered in the
    // kernel for the next read; without consuming them a later close cannot be
    // told apart, so the watch ends here.
  }

  // Only called when no write is outstanding: cancel() would abort it too.
  void stop_watch() {
    ++watch_generation_;
    if (!watching_) return;
    watching_ = false;
    error_code ignored;
    socket_.lowest_layer().cancel(ignored);
  }

  void client_went_away() {
    if (job_active_) ++state_->count().client_cancellations;
    shutdown();
  }

  // ----- writing responses

  // `completes`: a normal answer, counted in `completed`. The counters move before
  // the write starts, so a client never holds an answer that /stats does not show.
  void send(string_response res, bool completes = false) {
    if (completes) count_completed();
    end_job();
    response_ = std::move(res);
    http::async_write(socket_, response_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->shutdown();
      self->after_response();
    });
  }

  void after_response() {
    if (!keep_alive_) return shutdown();
    read_header();
  }

  // ----- closing

  void shutdown() {
    if (closed_) return;
    closed_ = true;
    end_job();
    timer_.cancel();
    read_deadline_.disarm();
    error_code ignored;
    socket_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    socket_.lowest_layer().close(ignored);
    release();
  }

  // Accounting done once, at close or, failing that, at destruction (when stop()
  // had to abandon the io_context and pending handlers were simply destroyed).
  void release() {
    if (released_) return;
    released_ = true;
    if (job_active_) {
      job_active_ = false;
      --state_->count().in_flight;
    }
    state_->remove_connection(this);
  }

  Socket socket_;
  asio::steady_timer timer_;
  read_deadline read_deadline_;
  std::shared_ptr<server_state> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  string_response response_;
  std::unique_ptr<sse_stream> stream_;
  chat_job job_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  bool job_active_ = false;
  bool watching_ = false;
  unsigned watch_generation_ = 0;
  bool closed_ = false;
  bool released_ = false;
};

template <class Connection>
void start(const std::shared_ptr<Connection>& conn, server_state& state) {
  if (state.add_connection(conn)) conn->start();
}

}  // namespace

void serve(tcp::socket socket, const std::shared_ptr<server_state>& state) {
  start(std::make_shared<connection<tcp::socket>>(std::move(socket), state), *state);
}

void serve(tls_socket socket, const std::shared_ptr<server_state>& state) {
  start(std::make_shared<connection<tls_socket>>(std::move(socket), state), *state);
}

}  // namespace cohort::mock_llm
