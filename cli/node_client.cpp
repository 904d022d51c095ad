#include "cli/node_client.hpp"

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "messages/input_limits.hpp"
#include "models/http/sse_parser.hpp"

namespace cohort {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr size_t max_answer_bytes = 64u << 20;  // a run's document with a big output
constexpr int resume_attempts = 5;               // in a row without an event in between

// One connection's worth of I/O on its own io_context, run in slices so that `stop` is
// looked at every 100 ms and a deadline is kept without a second thread.
class exchange {
 public:
  exchange(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
           const std::atomic<bool>* stop)
      : stream_(io_), timeout_(timeout), stop_(stop) {
    tcp::resolver resolver(io_);
    error_code ec;
    auto addresses = resolver.resolve(host, port, ec);
    if (ec) throw node_error(0, "unreachable", "cannot resolve " + host + ": " + ec.message());
    stream_.expires_after(timeout_);
    wait([&](auto done) { stream_.async_connect(addresses, [done](error_code e, const tcp::endpoint&) { done(e); }); },
         "connecting");
  }

  void send(const http::request<http::string_body>& req) {
    stream_.expires_after(timeout_);
    wait([&](auto done) { http::async_write(stream_, req, [done](error_code e, size_t) { done(e); }); }, "sending");
  }

  template <class Parser>
  void read_header(Parser& parser) {
    wait([&](auto done) { http::async_read_header(stream_, buffer_, parser, [done](error_code e, size_t) { done(e); }); },
         "reading the answer");
  }

  template <class Parser>
  void read(Parser& parser) {
    wait([&](auto done) { http::async_read(stream_, buffer_, parser, [done](error_code e, size_t) { done(e); }); },
         "reading the answer");
  }

  // A piece of an event stream's body; false at its end.
  bool read_piece(http::response_parser<http::buffer_body>& parser, char* into, size_t size, size_t& got) {
    stream_.expires_never();
    parser.get().body().data = into;
    parser.get().body().size = size;
    error_code ec = run([&](auto done) {
      http::async_read_some(stream_, buffer_, parser, [done](error_code e, size_t) { done(e); });
    });
    got = size - parser.get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    if (ec && ec != http::error::end_of_stream && ec != asio::error::eof)
      throw node_error(0, "connection_lost", "the event stream broke: " + ec.message());
    return !parser.is_done() && !ec;
  }

  bool stopped() const { return stopped_; }

 private:
  // Starts the operation and runs the I/O until it completes or `stop` turns true.
  template <class Start>
  error_code run(Start start) {
    bool finished = false;
    error_code result;
    start([&](error_code e) {
      result = e;
      finished = true;
    });
    while (!finished) {
      if (stop_ && stop_->load()) {
        stopped_ = true;
        stream_.close();
        io_.restart();
        io_.run();  // the aborted operation's handler
        return asio::error::operation_aborted;
      }
      io_.restart();
      io_.run_for(std::chrono::milliseconds(100));
    }
    return result;
  }

  template <class Start>
  void wait(Start start, const char* doing) {
    auto ec = run(start);
    if (stopped_) throw node_error(0, "stopped", "stopped");
    if (ec == beast::error::timeout)
      throw node_error(0, "timeout", std::string("the node did not answer in time (") + doing + ")");
    if (ec) throw node_error(0, "unreachable", std::string(doing) + ": " + ec.message());
  }

  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>* stop_;
  bool stopped_ = false;
};

// The node's {"error": {"kind", "message", "problems"}}, or the status and the text.
node_error error_of(unsigned status, const std::string& body) {
  try {
    auto doc = parse_untrusted_json(body, "the node's answer");
    const auto& e = doc.at("error");
    return node_error(status, e.value("kind", std::string("error")), e.value("message", std::string()),
                      e.value("problems", nlohmann::json::array()));
  } catch (const std::exception&) {
    return node_error(status, "http_" + std::to_string(status), body.substr(0, 200));
  }
}

}  // namespace

node_error::node_error(unsigned status, std::string kind, const std::string& message, nlohmann::json problems)
    : std::runtime_error(message), status_(status), kind_(std::move(kind)), problems_(std::move(problems)) {}

node_client::node_client(const std::string& url, std::string token, std::chrono::milliseconds timeout)
    : url_(url), token_(std::move(token)), timeout_(timeout) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || parsed->scheme() != "http" || parsed->host_address().empty())
    throw std::invalid_argument("--node: \"" + url + "\" is not an http://HOST[:PORT] URL (the node speaks plain HTTP)");
  host_ = parsed->host_address();
  port_ = parsed->has_port() ? std::string(parsed->port()) : "80";
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

nlohmann::json node_client::call(const std::string& method, const std::string& target, const nlohmann::json* body) const {
  exchange x(host_, port_, timeout_, nullptr);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_ + ":" + port_);
  req.set(http::field::accept, "application/json");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  req.keep_alive(false);
  req.prepare_payload();
  x.send(req);
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_answer_bytes);
  x.read(parser);
  const auto& res = parser.get();
  if (res.result_int() >= 300) throw error_of(res.result_int(), res.body());
  if (res.body().empty()) return nullptr;
  try {
    return parse_untrusted_json(res.body(), "the node's answer to " + method + " " + target);
  } catch (const std::exception& e) {
    throw node_error(res.result_int(), "bad_answer", e.what());
  }
}

node_client::stream_end node_client::follow(const std::string& run_id, int64_t after,
                                            const std::function<void(const nlohmann::json&)>& on_event,
                                            const std::atomic<bool>& stop, std::string* why_lost) const {
  bool saw_result = false;
  int failures = 0;
  std::string problem;
  while (failures < resume_attempts) {
    bool progressed = false;
    try {
      exchange x(host_, port_, timeout_, &stop);
      http::request<http::string_body> req{http::verb::get, "/v1/runs/" + run_id + "/events", 11};
      req.set(http::field::host, host_ + ":" + port_);
      req.set(http::field::accept, "text/event-stream");
      if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
      if (after > 0) req.set("Last-Event-ID", std::to_string(after));
      req.keep_alive(false);
      x.send(req);
      http::response_parser<http::buffer_body> parser;
      parser.body_limit(boost::none);  // a stream; each piece is bounded by the buffer
      x.read_header(parser);
      auto status = parser.get().result_int();
      sse_parser sse;
      std::string error_body;
      bool dropped = false;
      size_t since_event = 0;  // bytes read since the last complete event: a hostile node may never end one
      auto deliver = [&](const std::string& data) {
        since_event = 0;
        nlohmann::json e;
        try {
          e = parse_untrusted_json(data, "an event from the node");
        } catch (const std::exception&) {
          return;  // not an event we can read; the ones around it still count
        }
        auto kind = e.value("kind", std::string());
        if (kind == "dropped") {
          dropped = true;
          return;
        }
        auto seq = e.value("seq", int64_t{0});
        if (seq <= after) return;  // seen before a resume
        after = seq;
        progressed = true;
        if (kind == "result") saw_result = true;
        on_event(e);
      };
      char piece[16384];
      size_t got = 0;
      bool more = true;
      while (more) {
        more = x.read_piece(parser, piece, sizeof piece, got);
        if (status != 200) {
          if (error_body.size() < 65536) error_body.append(piece, got);
        } else {
          since_event += got;
          sse.feed(std::string_view(piece, got), deliver);
          if (since_event > max_answer_bytes)
            throw node_error(502, "bad_answer", "the node sent an event larger than 64 MiB");
        }
      }
      if (status != 200) throw error_of(status, error_body);
      sse.finish(deliver);
      if (saw_result) return stream_end::finished;
      problem = dropped ? "the node let this watcher go (too slow)" : "the node closed the stream before the result";
    } catch (const node_error& e) {
      if (stop.load()) return stream_end::stopped;
      if (e.status() != 0) throw;  // the node said no (404, 401): resuming will not change that
      problem = e.what();
    }
    if (stop.load()) return stream_end::stopped;
    failures = progressed ? 1 : failures + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * failures));
  }
  if (why_lost) *why_lost = problem;
  return stream_end::lost;
}

}  // namespace cohort
