#include "runtime/src/mock_llm_server.hpp"
#include "runtime/src/open_file_limit.hpp"
#include "messages/input_limits.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <array>
#include <map>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace cohort {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;
using nlohmann::json;
using string_request = http::request<http::string_body>;
using string_response = http::response<http::string_body>;
using tls_socket = asio::ssl::stream<tcp::socket>;

// LLM prompts can be long; the limits only keep a broken client from eating memory.
constexpr std::uint64_t max_body_bytes = 64ull * 1024 * 1024;
constexpr std::uint32_t max_header_bytes = 64 * 1024;
// How long stop() lets the I/O threads drain after closing everything before it
// stops the io_context outright: stop() must never hang.
constexpr auto stop_grace = std::chrono::seconds(2);
constexpr auto accept_retry_delay = std::chrono::milliseconds(100);
constexpr const char* server_name = "cohort-mock-llm";

// ---------------------------------------------------------------------------
// Faults

enum class fault { none, rate_limit, server_error, malformed, hang, drop };
constexpr std::array<fault, 5> all_faults{fault::rate_limit, fault::server_error, fault::malformed,
                                          fault::hang, fault::drop};

const char* fault_name(fault f) {
  switch (f) {
    case fault::rate_limit: return "429";
    case fault::server_error: return "500";
    case fault::malformed: return "malformed";
    case fault::hang: return "hang";
    case fault::drop: return "drop";
    case fault::none: break;
  }
  return "none";
}

// Index into the per-fault counters (fault::none has none).
std::size_t fault_index(fault f) { return static_cast<std::size_t>(f) - 1; }

std::optional<fault> parse_fault(std::string_view name) {
  if (name == "none") return fault::none;
  for (auto f : all_faults)
    if (name == fault_name(f)) return f;
  return std::nullopt;
}

std::string known_faults_text() { return "429, 500, malformed, hang, drop or none"; }

// ---------------------------------------------------------------------------
// Shared state: options, the responder, counters, the seeded draws, and the
// registry of live connections that stop() closes.

// What stop() needs of a connection, plain or TLS.
class connection_base {
 public:
  virtual ~connection_base() = default;
  // From any thread (stop()): ends the connection, whatever it is doing.
  virtual void close() = 0;
};

struct counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> prompt_tokens{0};      // of the completed answers, as the
  std::atomic<std::uint64_t> completion_tokens{0};  // usage would say (even with --no-usage)
  std::atomic<std::uint64_t> invalid_requests{0};
  std::atomic<std::uint64_t> bearer_requests{0};  // with "Authorization: Bearer ..." (the key itself is never kept)
  std::atomic<std::uint64_t> client_cancellations{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> timed_out_connections{0};  // closed by the idle or header timeout
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::int64_t> in_flight{0};
  std::array<std::atomic<std::uint64_t>, all_faults.size()> faults;

  counters() {
    for (auto& f : faults) f.store(0);
  }
};

void validate(const mock_llm_options& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("mock-llm: " + what); };
  if (o.threads < 1) fail("threads must be at least 1, got " + std::to_string(o.threads));
  if (o.latency_min_ms < 0 || o.latency_max_ms < o.latency_min_ms)
    fail("latency needs 0 <= min <= max, got " + std::to_string(o.latency_min_ms) + "-" +
         std::to_string(o.latency_max_ms));
  if (!(o.fault_rate >= 0.0 && o.fault_rate <= 1.0))
    fail("fault_rate must be within [0, 1], got " + std::to_string(o.fault_rate));
  if (o.retry_after_s < 0) fail("retry_after_s must not be negative");
  if (o.idle_timeout_ms < 1) fail("idle_timeout_ms must be at least 1, got " + std::to_string(o.idle_timeout_ms));
  if (o.header_timeout_ms < 1)
    fail("header_timeout_ms must be at least 1, got " + std::to_string(o.header_timeout_ms));
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) fail("TLS needs both a certificate and its private key");
  if (o.fail_first < 0) fail("fail_first must not be negative");
  if (auto f = parse_fault(o.fail_first_with); !f || *f == fault::none)
    fail("unknown fault \"" + o.fail_first_with + "\" for fail_first (expected 429, 500, malformed, hang or drop)");
  for (const auto& name : o.faults) {
    auto f = parse_fault(name);
    if (!f || *f == fault::none)
      fail("unknown fault \"" + name + "\" (expected 429, 500, malformed, hang or drop)");
  }
}

class server_state {
 public:
  explicit server_state(mock_llm_options options)
      : options_(std::move(options)), responder_(options_.model), rng_(options_.seed) {
    for (const auto& name : options_.faults) pool_.push_back(*parse_fault(name));
    if (pool_.empty()) pool_.assign(all_faults.begin(), all_faults.end());
  }

  const mock_llm_options& options() const { return options_; }
  const sim_responder& responder() const { return responder_; }
  counters& count() { return counters_; }

  std::chrono::milliseconds draw_latency() {
    if (options_.latency_max_ms <= options_.latency_min_ms)
      return std::chrono::milliseconds(options_.latency_min_ms);
    std::lock_guard<std::mutex> lock(rng_mutex_);
    return std::chrono::milliseconds(
        std::uniform_int_distribution<int>(options_.latency_min_ms, options_.latency_max_ms)(rng_));
  }

  fault draw_fault() {
    if (first_faults_left_.load() > 0 && first_faults_left_.fetch_sub(1) > 0) return *parse_fault(options_.fail_first_with);
    if (options_.fault_rate <= 0.0) return fault::none;
    std::lock_guard<std::mutex> lock(rng_mutex_);
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) >= options_.fault_rate) return fault::none;
    return pool_[std::uniform_int_distribution<std::size_t>(0, pool_.size() - 1)(rng_)];
  }

  // Requests by each "X-..." header they carried, with its value ("X-Team: red"):
  // shows that configured extra headers arrive.
  void count_extra_headers(const string_request& req) {
    for (const auto& field : req) {
      auto name = field.name_string();
      if (name.size() < 2 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-') continue;
      std::lock_guard<std::mutex> lock(headers_mutex_);
      ++extra_headers_[std::string(name) + ": " + std::string(field.value())];
    }
  }

  // The body of the last chat request that was valid JSON, as sent (GET /last-request).
  void keep_last_request(const std::string& body) {
    auto copy = std::make_shared<const std::string>(body);
    std::lock_guard<std::mutex> lock(last_mutex_);
    last_request_.swap(copy);
  }
  std::shared_ptr<const std::string> last_request() const {
    std::lock_guard<std::mutex> lock(last_mutex_);
    return last_request_;
  }

  std::string next_completion_id() { return "chatcmpl-mock-" + std::to_string(++ids_); }

  // False once stopping: the caller drops the connection. Checked under the same
  // mutex as begin_stop() so no connection slips in after the snapshot.
  bool add_connection(const std::shared_ptr<connection_base>& c) {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    if (stopping_) return false;
    connections_.emplace(c.get(), c);
    ++counters_.open_connections;
    ++counters_.connections_total;
    return true;
  }

  void remove_connection(const connection_base* c) {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    if (connections_.erase(c) > 0) --counters_.open_connections;
  }

  std::vector<std::shared_ptr<connection_base>> begin_stop() {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    stopping_ = true;
    std::vector<std::shared_ptr<connection_base>> live;
    for (auto& [key, weak] : connections_)
      if (auto c = weak.lock()) live.push_back(std::move(c));
    return live;
  }

  // `asking_connections`: connections serving this very /stats request, left out of
  // open_connections so that a poller sees 0 once every client has gone.
  json stats(int asking_connections = 0) const {
    json faults = json::object();
    for (auto f : all_faults) faults[fault_name(f)] = counters_.faults[fault_index(f)].load();
    auto open = counters_.open_connections.load() - asking_connections;
    json extra = json::object();
    {
      std::lock_guard<std::mutex> lock(headers_mutex_);
      for (const auto& [header, n] : extra_headers_) extra[header] = n;
    }
    return {{"extra_headers", extra},
            {"requests", counters_.requests.load()},
            {"completed", counters_.completed.load()},
            {"prompt_tokens", counters_.prompt_tokens.load()},
            {"completion_tokens", counters_.completion_tokens.load()},
            {"invalid_requests", counters_.invalid_requests.load()},
            {"bearer_requests", counters_.bearer_requests.load()},
            {"faults", faults},
            {"open_connections", open < 0 ? 0 : open},
            {"connections_total", counters_.connections_total.load()},
            {"client_cancellations", counters_.client_cancellations.load()},
            {"tls_handshake_failures", counters_.tls_handshake_failures.load()},
            {"timed_out_connections", counters_.timed_out_connections.load()},
            {"in_flight", counters_.in_flight.load()}};
  }

 private:
  mock_llm_options options_;
  sim_responder responder_;
  counters counters_;
  std::vector<fault> pool_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> ids_{0};
  mutable std::mutex last_mutex_;
  std::shared_ptr<const std::string> last_request_;
  mutable std::mutex headers_mutex_;
  std::map<std::string, std::uint64_t> extra_headers_;
  std::atomic<int> first_faults_left_{options_.fail_first};
  std::mutex conn_mutex_;
  bool stopping_ = false;
  std::unordered_map<const connection_base*, std::weak_ptr<connection_base>> connections_;
};

// ---------------------------------------------------------------------------
// OpenAI documents

// What the server writes of a document. Answers echo what clients sent (a target, a
// fault name, a cut of a prompt), which may not be valid UTF-8: such bytes become
// U+FFFD rather than an exception (and a 500) in the middle of answering.
std::string dump_for_client(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_doc(const std::string& message, const std::string& type, const json& code = nullptr) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

// What one chat completion request asks for, decided before any waiting.
struct chat_job {
  std::string id;
  std::int64_t created = 0;
  std::string model;
  bool stream = false;
  fault injected = fault::none;
  std::chrono::milliseconds latency{0};
  sim_responder::answer answer;
  bool usage = true;  // report usage (off: --no-usage)
  std::string tool;   // --tool-calls: answer with one call to this tool instead of text
};

// The one tool call of a --tool-calls answer; its arguments carry the simulated text.
json tool_call_doc(const chat_job& job) {
  return {{"id", "call_" + job.id},
          {"type", "function"},
          {"function", {{"name", job.tool}, {"arguments", dump_for_client(json{{"text", job.answer.text}})}}}};
}

json usage_doc(const sim_responder::answer& a) {
  return {{"prompt_tokens", a.prompt_tokens},
          {"completion_tokens", a.completion_tokens},
          {"total_tokens", a.prompt_tokens + a.completion_tokens}};
}

json completion_doc(const chat_job& job) {
  json message{{"role", "assistant"}, {"content", job.answer.text}};
  if (!job.tool.empty()) {
    message["content"] = nullptr;
    message["tool_calls"] = json::array({tool_call_doc(job)});
  }
  json doc{{"id", job.id},
           {"object", "chat.completion"},
           {"created", job.created},
           {"model", job.model},
           {"choices", json::array({{{"index", 0},
                                     {"message", std::move(message)},
                                     {"finish_reason", job.tool.empty() ? "stop" : "tool_calls"}}})}};
  if (job.usage) doc["usage"] = usage_doc(job.answer);
  return doc;
}

json chunk_doc(const chat_job& job, json delta, json finish_reason) {
  return {{"id", job.id},
          {"object", "chat.completion.chunk"},
          {"created", job.created},
          {"model", job.model},
          {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish_reason}}})}};
}

std::string sse_event(const json& doc) { return "data: " + dump_for_client(doc) + "\n\n"; }

// Each piece is a word with the whitespace after it (leading whitespace is its own
// piece), so the pieces concatenate back to exactly `text`.
std::vector<std::string> split_words(const std::string& text) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
  std::vector<std::string> pieces;
  std::size_t i = 0;
  while (i < text.size()) {
    auto j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    while (j < text.size() && is_space(text[j])) ++j;
    pieces.push_back(text.substr(i, j - i));
    i = j;
  }
  return pieces;
}

// The SSE events of a streamed answer, each with its due time after the stream
// starts: the role first at once, the words spread evenly over the latency, then
// the finish chunk (with usage) and [DONE] when the latency has passed.
struct sse_event_plan {
  std::vector<std::string> events;
  std::vector<std::chrono::microseconds> due;
};

sse_event_plan plan_stream(const chat_job& job) {
  sse_event_plan plan;
  auto add = [&plan](std::string event, std::chrono::microseconds at) {
    plan.events.push_back(std::move(event));
    plan.due.push_back(at);
  };
  std::chrono::microseconds total = job.latency;
  if (!job.tool.empty()) {  // the role, then the whole call in one delta
    add(sse_event(chunk_doc(job, {{"role", "assistant"}, {"content", nullptr}}, nullptr)), {});
    auto call = tool_call_doc(job);
    call["index"] = 0;
    add(sse_event(chunk_doc(job, {{"tool_calls", json::array({call})}}, nullptr)), total);
    auto last = chunk_doc(job, json::object(), "tool_calls");
    if (job.usage) last["usage"] = usage_doc(job.answer);
    add(sse_event(last) + "data: [DONE]\n\n", total);
    return plan;
  }
  add(sse_event(chunk_doc(job, {{"role", "assistant"}, {"content", ""}}, nullptr)), {});
  auto words = split_words(job.answer.text);
  for (std::size_t k = 0; k < words.size(); ++k)
    add(sse_event(chunk_doc(job, {{"content", words[k]}}, nullptr)),
        total * static_cast<long>(k + 1) / static_cast<long>(words.size()));
  auto last = chunk_doc(job, json::object(), "stop");
  if (job.usage) last["usage"] = usage_doc(job.answer);
  add(sse_event(last) + "data: [DONE]\n\n", total);
  return plan;
}

string_response make_response(http::status status, std::string body, unsigned version, bool keep_alive,
                              const char* content_type = "application/json") {
  string_response res{status, version};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

string_response json_response(http::status status, const json& doc, unsigned version, bool keep_alive) {
  return make_response(status, dump_for_client(doc), version, keep_alive);
}

// ---------------------------------------------------------------------------
// Reading a chat completion request

struct bad_request : std::runtime_error {
  using std::runtime_error::runtime_error;
};

json parse_body(const std::string& body) {
  json doc;
  try {
    doc = parse_untrusted_json(body, "the request body");  // depth-limited: clients are untrusted
  } catch (const input_error& e) {
    throw bad_request(e.what());
  }
  if (!doc.is_object()) throw bad_request("the request body must be a JSON object");
  return doc;
}

void check_messages(const json& doc) {
  auto it = doc.find("messages");
  if (it == doc.end()) throw bad_request("'messages' is required (an array of message objects)");
  if (!it->is_array()) throw bad_request("'messages' must be an array of message objects");
  if (it->empty()) throw bad_request("'messages' must not be empty");
  for (std::size_t i = 0; i < it->size(); ++i)
    if (!(*it)[i].is_object()) throw bad_request("'messages[" + std::to_string(i) + "]' must be an object");
}

// The header wins over the body field; neither means a draw at fault_rate.
fault choose_fault(const string_request& req, const json& doc, server_state& state) {
  std::string forced, where;
  if (auto h = req.find("X-Mock-Fault"); h != req.end()) {
    forced = std::string(h->value());
    where = "X-Mock-Fault header";
  } else if (auto f = doc.find("mock_fault"); f != doc.end()) {
    if (!f->is_string()) throw bad_request("'mock_fault' must be a string");
    forced = f->get<std::string>();
    where = "'mock_fault' field";
  } else {
    return state.draw_fault();
  }
  auto f = parse_fault(forced);
  if (!f) throw bad_request("unknown mock fault \"" + forced + "\" in the " + where + " (expected " +
                            known_faults_text() + ")");
  return *f;
}

// The first tools[].function.name of the request, or "mock_tool".
std::string first_tool_name(const json& doc) {
  auto tools = doc.find("tools");
  if (tools != doc.end() && tools->is_array())
    for (const auto& t : *tools)
      if (t.is_object() && t.contains("function") && t["function"].is_object())
        if (auto name = t["function"].find("name"); name != t["function"].end() && name->is_string())
          return name->get<std::string>();
  return "mock_tool";
}

chat_job read_chat_request(const string_request& req, server_state& state) {
  auto doc = parse_body(req.body());
  state.keep_last_request(req.body());
  check_messages(doc);
  chat_job job;
  auto stream = doc.find("stream");
  if (stream != doc.end() && !stream->is_null()) {
    if (!stream->is_boolean()) throw bad_request("'stream' must be a boolean");
    job.stream = stream->get<bool>();
  }
  auto model = doc.find("model");
  if (model != doc.end() && !model->is_null() && !model->is_string()) throw bad_request("'model' must be a string");
  job.model = model != doc.end() && model->is_string() ? model->get<std::string>() : state.options().model.name;
  job.injected = choose_fault(req, doc, state);
  try {
    job.answer = state.responder().respond(doc["messages"]);
  } catch (const std::exception& e) {
    throw bad_request(std::string("'messages' could not be read: ") + e.what());
  }
  job.usage = state.options().usage;
  if (state.options().tool_calls) job.tool = first_tool_name(doc);
  job.latency = state.draw_latency();
  job.id = state.next_completion_id();
  job.created = static_cast<std::int64_t>(std::time(nullptr));
  return job;
}

// ---------------------------------------------------------------------------
// Routing: what a request gets, decided without its connection (and so testable
// without a socket: mock_llm_answer).

// An answer to send at once, or a chat job for the connection to play (wait, then
// answer, stream or misbehave).
struct routed_request {
  std::optional<string_response> answer;
  chat_job job;
};

string_response method_not_allowed(const string_request& req) {
  return json_response(http::status::method_not_allowed,
                       error_doc("method " + std::string(req.method_string()) + " is not allowed on " +
                                     std::string(req.target()),
                                 "invalid_request_error"),
                       req.version(), req.keep_alive());
}

routed_request handle_chat(const string_request& req, server_state& state) {
  ++state.count().requests;
  state.count_extra_headers(req);
  if (auto auth = req.find(http::field::authorization);
      auth != req.end() && auth->value().size() > 7 && auth->value().substr(0, 7) == "Bearer ")
    ++state.count().bearer_requests;
  try {
    return {std::nullopt, read_chat_request(req, state)};
  } catch (const bad_request& e) {
    ++state.count().invalid_requests;
    return {json_response(http::status::bad_request, error_doc(e.what(), "invalid_request_error"), req.version(),
                          req.keep_alive()),
            {}};
  }
}

routed_request route(const string_request& req, server_state& state) {
  auto target = std::string_view(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  auto method = req.method();
  auto version = req.version();
  auto keep_alive = req.keep_alive();
  if (path == "/v1/chat/completions") {
    if (method != http::verb::post) return {method_not_allowed(req), {}};
    return handle_chat(req, state);
  }
  if (path == "/v1/models") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    json models{{"object", "list"},
                {"data", json::array({{{"id", "mock"}, {"object", "model"}, {"owned_by", "cohort"}}})}};
    return {json_response(http::status::ok, models, version, keep_alive), {}};
  }
  if (path == "/last-request") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    auto last = state.last_request();
    if (!last)
      return {json_response(http::status::not_found,
                            error_doc("no chat completion request received yet", "invalid_request_error",
                                      "no_request_yet"),
                            version, keep_alive),
              {}};
    return {make_response(http::status::ok, *last, version, keep_alive), {}};
  }
  if (path == "/stats") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    return {json_response(http::status::ok, state.stats(1), version, keep_alive), {}};
  }
  return {json_response(http::status::not_found,
                        error_doc("Invalid URL (" + std::string(req.method_string()) + " " + std::string(path) + ")",
                                  "invalid_request_error", "not_found"),
                        version, keep_alive),
          {}};
}

// ---------------------------------------------------------------------------
// One client connection. Every member runs on the connection's strand (the
// socket's executor), except close(), which posts there.

// `Socket`: tcp::socket, or an ssl::stream over one (--tls): the TLS one only adds
// the handshake; the socket-level calls go to its lowest layer.
enum class read_phase { idle, request };

template <class Socket>
class connection final : public connection_base, public std::enable_shared_from_this<connection<Socket>> {
  static constexpr bool tls = !std::is_same_v<Socket, tcp::socket>;

 public:
  connection(Socket socket, std::shared_ptr<server_state> state)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        read_timer_(socket_.get_executor()),
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

  std::chrono::milliseconds idle_timeout() const {
    return std::chrono::milliseconds(state_->options().idle_timeout_ms);
  }
  std::chrono::milliseconds header_timeout() const {
    return std::chrono::milliseconds(state_->options().header_timeout_ms);
  }

  // The read in progress gets `limit`; when it passes, the read is cancelled and
  // on_read_error sees read_timed_out_.
  void arm_read_deadline(std::chrono::milliseconds limit, read_phase phase) {
    read_phase_ = phase;
    read_timed_out_ = false;
    read_timer_.expires_after(limit);
    read_timer_.async_wait([self = this->shared_from_this(), generation = ++read_generation_](error_code ec) {
      if (ec || self->closed_ || generation != self->read_generation_) return;
      self->read_timed_out_ = true;
      error_code ignored;
      self->socket_.lowest_layer().cancel(ignored);
    });
  }

  void disarm_read_deadline() {
    ++read_generation_;
    read_timer_.cancel();
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
    disarm_read_deadline();
    if (read_timed_out_) {
      ++state_->count().timed_out_connections;
      if (read_phase_ == read_phase::idle) return shutdown();
      keep_alive_ = false;  // the request was cut short: say so, then close
      return send(json_response(http::status::request_timeout,
                                error_doc("the request did not arrive within " +
                                              std::to_string(state_->options().header_timeout_ms) + " ms",
                                          "invalid_request_error", "request_timeout"),
                                11, false));
    }
    bool peer_gone = ec == http::error::end_of_stream || ec == asio::error::eof ||
                     ec == asio::error::connection_reset || ec == http::error::partial_message ||
                     ec == asio::error::operation_aborted;
    if (peer_gone) return shutdown();
    // A broken request: say why, then close, since the stream position is unknown.
    keep_alive_ = false;
    auto status = ec == http::error::body_limit ? http::status::payload_too_large : http::status::bad_request;
    send(json_response(status, error_doc("malformed HTTP request: " + ec.message(), "invalid_request_error"), 11,
                       false));
  }

  // ----- routing

  void on_request() {
    disarm_read_deadline();
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
    switch (job_.injected) {
      case fault::none:
        return send(json_response(http::status::ok, completion_doc(job_), version_, keep_alive_), true);
      case fault::rate_limit: {
        count_fault(fault::rate_limit);
        auto res = json_response(
            http::status::too_many_requests,
            error_doc("Rate limit reached for requests (injected by cohort mock-llm)", "requests", "rate_limit_exceeded"),
            version_, keep_alive_);
        res.set(http::field::retry_after, std::to_string(state_->options().retry_after_s));
        return send(std::move(res));
      }
      case fault::server_error:
        count_fault(fault::server_error);
        return send(json_response(http::status::internal_server_error,
                                  error_doc("The server had an error while processing your request "
                                            "(injected by cohort mock-llm)",
                                            "server_error"),
                                  version_, keep_alive_));
      case fault::malformed:
        count_fault(fault::malformed);
        return send(make_response(http::status::ok, R"({"choices": [ {"message": )", version_, keep_alive_));
      case fault::drop:
        count_fault(fault::drop);
        end_job();
        return shutdown();
      case fault::hang:
        break;  // handled in begin_job
    }
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
    // Peek without blocking: 0 bytes is EOF; "would block" is a spurious wake-up (the
    // reactor can report readiness left over from the last read), so watch again.
    char byte;
    auto n = ::recv(socket_.lowest_layer().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return watch_client();
    if (n <= 0) return client_went_away();
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
    disarm_read_deadline();
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
  asio::steady_timer read_timer_;
  unsigned read_generation_ = 0;
  read_phase read_phase_ = read_phase::idle;
  bool read_timed_out_ = false;
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

tcp::endpoint resolve_listen_endpoint(asio::io_context& io, const std::string& host, uint16_t port) {
  tcp::resolver resolver(io);
  error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    throw std::runtime_error("mock-llm: cannot resolve host \"" + host + "\": " +
                             (ec ? ec.message() : std::string("no address")));
  return results.begin()->endpoint();
}

}  // namespace

mock_llm_reply mock_llm_answer(const mock_llm_options& options, const std::string& method, const std::string& target,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body) {
  validate(options);
  server_state state(options);
  string_request req;
  req.version(11);
  req.method_string(method);
  req.target(target);
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.body() = body;
  auto routed = route(req, state);
  if (routed.answer) return {routed.answer->result_int(), std::move(routed.answer->body()), {}};
  const auto& job = routed.job;
  if (job.injected != fault::none) return {0, {}, fault_name(job.injected)};
  if (!job.stream) return {200, dump_for_client(completion_doc(job)), {}};
  std::string events;
  for (const auto& event : plan_stream(job).events) events += event;
  return {200, std::move(events), {}};
}

// ---------------------------------------------------------------------------
// The server: an acceptor on its own strand, N threads running the io_context.

struct mock_llm_server::impl {
  explicit impl(mock_llm_options options) : state(std::make_shared<server_state>(std::move(options))) {}

  // Declared first so it is destroyed last: sockets and timers need its services.
  asio::io_context io;
  std::shared_ptr<server_state> state;
  std::optional<asio::ssl::context> tls;  // --tls: the certificate and key it serves
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;

  std::mutex lifecycle;  // start() against stop()
  bool started = false;
  bool stopped = false;
  uint16_t port = 0;

  std::mutex exit_mutex;  // threads report their exit, so stop() can wait with a deadline
  std::condition_variable exit_cv;
  int running_threads = 0;

  void load_certificate() {
    const auto& o = state->options();
    if (o.tls_cert_file.empty()) return;
    tls.emplace(asio::ssl::context::tls_server);
    error_code ec;
    tls->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) throw std::runtime_error("mock-llm: cannot load the certificate --cert " + o.tls_cert_file + ": " + ec.message());
    tls->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("mock-llm: cannot load the private key --key " + o.tls_key_file + ": " + ec.message());
  }

  void listen() {
    load_certificate();
    auto endpoint = resolve_listen_endpoint(io, state->options().host, state->options().port);
    auto where = state->options().host + ":" + std::to_string(state->options().port);
    acceptor.emplace(asio::make_strand(io));
    error_code ec;
    auto check = [&](const char* step) {
      if (!ec) return;
      acceptor.reset();
      throw std::runtime_error("mock-llm: cannot " + std::string(step) + " " + where + ": " + ec.message());
    };
    acceptor->open(endpoint.protocol(), ec);
    check("open a socket for");
    acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    check("set SO_REUSEADDR on");
    acceptor->bind(endpoint, ec);
    check("bind");
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
    check("listen on");
    port = acceptor->local_endpoint(ec).port();
    check("read the port of");
    accept_retry.emplace(acceptor->get_executor());
  }

  void accept() {
    acceptor->async_accept(asio::make_strand(io),
                           [this](error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // e.g. out of file descriptors: retry shortly instead of spinning.
      spdlog::warn("mock-llm: accept failed: {}", ec.message());
      accept_retry->expires_after(accept_retry_delay);
      accept_retry->async_wait([this](error_code ec) {
        if (!ec && acceptor->is_open()) accept();
      });
      return;
    }
    error_code ignored;  // answers are small: send them without waiting for Nagle
    socket.set_option(tcp::no_delay(true), ignored);
    // Not added: stopping, and dropping it closes the socket.
    if (tls) serve(std::make_shared<connection<tls_socket>>(tls_socket(std::move(socket), *tls), state));
    else serve(std::make_shared<connection<tcp::socket>>(std::move(socket), state));
    accept();
  }

  template <class Connection>
  void serve(const std::shared_ptr<Connection>& conn) {
    if (state->add_connection(conn)) conn->start();
  }

  void run_thread() {
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        // Handlers catch their own errors; keep serving if one slipped through.
        spdlog::error("mock-llm: I/O thread caught: {}", e.what());
      }
    }
    std::lock_guard<std::mutex> lock(exit_mutex);
    --running_threads;
    exit_cv.notify_all();
  }

  void start_threads() {
    work.emplace(io.get_executor());
    int n = state->options().threads;
    {
      std::lock_guard<std::mutex> lock(exit_mutex);
      running_threads = n;
    }
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { run_thread(); });
  }

  void close_everything() {
    asio::post(acceptor->get_executor(), [this] {
      error_code ignored;
      acceptor->close(ignored);
      accept_retry->cancel();
    });
    for (auto& conn : state->begin_stop()) conn->close();
    work.reset();  // the threads return once the closes have drained
  }

  void join_threads() {
    {
      std::unique_lock<std::mutex> lock(exit_mutex);
      if (!exit_cv.wait_for(lock, stop_grace, [this] { return running_threads == 0; })) {
        spdlog::warn("mock-llm: I/O still busy {} s after stop; stopping it outright",
                     std::chrono::duration_cast<std::chrono::seconds>(stop_grace).count());
        io.stop();
      }
    }
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

mock_llm_server::mock_llm_server(mock_llm_options options) {
  validate(options);
  impl_ = std::make_unique<impl>(std::move(options));
}

mock_llm_server::~mock_llm_server() { stop(); }

uint16_t mock_llm_server::start() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle);
  if (impl_->stopped) throw std::logic_error("mock-llm: start() after stop()");
  if (impl_->started) return impl_->port;
  raise_open_file_limit();
  impl_->listen();
  impl_->accept();  // no thread runs yet, so touching the acceptor here is safe
  impl_->start_threads();
  impl_->started = true;
  return impl_->port;
}

void mock_llm_server::stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  impl_->close_everything();
  impl_->join_threads();
}

nlohmann::json mock_llm_server::stats() const { return impl_->state->stats(); }

}  // namespace cohort
