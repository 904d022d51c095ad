#include "agents/mcp_http_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "messages/input_limits.hpp"
#include "models/http/http_connection.hpp"
#include "models/http/http_target.hpp"
#include "models/http/sse_parser.hpp"
#include "models/http/tls_client.hpp"

namespace cohort {
namespace {

// One POST and what came back: the JSON-RPC answer to `id` as soon as it is seen (an
// event stream may stay open after it), and the HTTP outcome once the exchange ends.
struct exchange {
  explicit exchange(int64_t id) : id(id) {}
  const int64_t id;  // -1: a notification or a reply of ours (no answer expected)
  std::mutex m;
  std::condition_variable cv;
  bool answered = false;
  bool ended = false;
  nlohmann::json answer;
  http_outcome outcome;
  // A 200's body as it arrives: one JSON document (kept whole) or events (parsed on).
  enum class form { unknown, json, events } shape = form::unknown;
  std::string body;
  sse_parser events;
  std::function<void(const nlohmann::json&)> on_server_request;

  void seen(const nlohmann::json& message) {  // with m held
    if (!message.is_object()) return;
    if (message.contains("method")) {
      if (message.contains("id") && !message["id"].is_null() && on_server_request) on_server_request(message);
      return;  // a notification (progress, logging): nothing to do
    }
    // The first answer counts: the caller reads it, unlocked, once `answered` is set.
    if (answered || message.value("id", nlohmann::json()) != id) return;
    answer = message;
    answered = true;
  }
  void take(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(m);
    if (shape == form::unknown) {
      auto first = bytes.find_first_not_of(" \t\r\n");
      if (first == std::string::npos) return;
      shape = bytes[first] == '{' || bytes[first] == '[' ? form::json : form::events;
    }
    if (shape == form::json) {
      body += bytes;
      return;
    }
    events.feed(bytes, [this](const std::string& data) { seen(parse_untrusted_json_or_discarded(data)); });
    if (answered) cv.notify_all();
  }
  void end(http_outcome o) {
    std::lock_guard<std::mutex> lock(m);
    if (shape == form::json) {
      auto doc = parse_untrusted_json_or_discarded(body);
      if (doc.is_array())
        for (const auto& item : doc) seen(item);
      else
        seen(doc);
    } else if (shape == form::events) {
      events.finish([this](const std::string& data) { seen(parse_untrusted_json_or_discarded(data)); });
    }
    outcome = std::move(o);
    ended = true;
    cv.notify_all();
  }
};

std::string header_line(const char* name, const std::string& value) {
  return value.empty() ? std::string() : std::string(name) + ": " + value + "\r\n";
}

}  // namespace

struct mcp_http_client::impl {
  explicit impl(const mcp_server_def& d) : def(d) {
    if (auto t = parse_http_target(def.url)) target = *t;
    if (target.https) tls = make_tls_client_context({"", true});
    if (!def.api_key_env.empty())
      if (const char* key = std::getenv(def.api_key_env.c_str()); key && *key && !has_control_chars(key))
        bearer = std::string("Bearer ") + key;
    thread = std::thread([this] { io.run(); });
  }

  ~impl() {
    end_session();
    std::vector<std::shared_ptr<http_connection>> open;
    {
      std::lock_guard<std::mutex> lock(mutex);
      open.swap(idle);
    }
    for (auto& c : open) c->close();
    work.reset();
    io.stop();
    thread.join();
  }

  std::string where() const { return "MCP server " + def.name + " (" + printable_url(def.url) + ")"; }

  std::shared_ptr<http_connection> connection() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!idle.empty()) {
        auto c = idle.back();
        idle.pop_back();
        return c;
      }
    }
    return make_http_connection(io, target.host, target.port, tls, true, open_count);
  }

  void give_back(const std::shared_ptr<http_connection>& c) {
    std::lock_guard<std::mutex> lock(mutex);
    if (idle.size() < 16) idle.push_back(c);
  }

  std::string bytes(const char* verb, const std::string& body, const std::string& session_id) {
    std::string protocol_version;
    {
      std::lock_guard<std::mutex> lock(mutex);
      protocol_version = protocol;
    }
    return std::string(verb) + " " + target.target + " HTTP/1.1\r\nHost: " + target.host_header +
           "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
           "User-Agent: cohort/0.1\r\n" +
           header_line("Mcp-Session-Id", session_id) + header_line("MCP-Protocol-Version", protocol_version) +
           header_line("Authorization", bearer) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  // Sends `message` and waits: for the answer to `id` (or, `whole`, for the exchange's
  // end: initialize's session header comes with it). A reused connection that the
  // server had closed is tried once more on a fresh one.
  std::shared_ptr<exchange> post(const char* verb, const nlohmann::json& message, int64_t id, int timeout_ms,
                                 bool whole, const std::string& session_id) {
    auto text = message.is_null() ? std::string() : message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto request = bytes(verb, text, session_id);
    for (int attempt = 0;; ++attempt) {
      auto x = std::make_shared<exchange>(id);
      x->on_server_request = [this](const nlohmann::json& asked) { refuse(asked); };
      auto conn = connection();
      std::weak_ptr<http_connection> weak = conn;
      auto timeout = std::chrono::milliseconds(timeout_ms);
      conn->send([request] { return request; }, std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(10)),
                 timeout,
                 [this, x, weak](http_outcome o) {
                   auto c = weak.lock();
                   if (c && o.keep_alive && o.error_kind.empty()) give_back(c);
                   x->end(std::move(o));
                 },
                 [x](const std::string& piece) { x->take(piece); });
      std::unique_lock<std::mutex> wait(x->m);
      bool done = x->cv.wait_for(wait, timeout, [&] { return x->ended || (!whole && x->answered); });
      if (!done) {
        wait.unlock();
        conn->close();  // the server learns at once; the send completes silently
        auto what = message.is_object() ? message.value("method", std::string(verb)) : std::string(verb);
        throw mcp_error("timeout", "no answer from " + where() + " to " + what + " within " +
                                       std::to_string(timeout_ms) + " ms");
      }
      if (x->ended && x->outcome.stale && attempt == 0) continue;
      return x;
    }
  }

  // A request the server made of us on a stream: cohort offers no methods. A few refusals
  // at most are on their way at once, the next ones wait their turn (a bounded number:
  // a server that floods requests gets the rest unanswered, not a connection each).
  void refuse(const nlohmann::json& asked) {
    nlohmann::json reply{{"jsonrpc", "2.0"},
                         {"id", asked["id"]},
                         {"error", {{"code", -32601}, {"message", "cohort's MCP client offers no methods"}}}};
    auto request = bytes("POST", reply.dump(), current_session());
    {
      std::lock_guard<std::mutex> lock(refusals_mutex);
      if (refusals_in_flight >= max_refusals_in_flight) {
        if (waiting_refusals.size() < max_waiting_refusals) waiting_refusals.push_back(std::move(request));
        return;
      }
      ++refusals_in_flight;
    }
    send_refusal(std::move(request));
  }

  void send_refusal(std::string request) {
    auto conn = connection();
    std::weak_ptr<http_connection> weak = conn;
    conn->send([request] { return request; }, std::chrono::seconds(5), std::chrono::seconds(5),
               [this, weak](http_outcome o) {
                 if (auto c = weak.lock(); c && o.keep_alive && o.error_kind.empty()) give_back(c);
                 std::string next;
                 {
                   std::lock_guard<std::mutex> lock(refusals_mutex);
                   if (waiting_refusals.empty()) {
                     --refusals_in_flight;
                     return;
                   }
                   next = std::move(waiting_refusals.front());
                   waiting_refusals.pop_front();
                 }
                 send_refusal(std::move(next));
               });
  }

  std::string current_session() {
    std::lock_guard<std::mutex> lock(mutex);
    return session;
  }

  // Why an exchange brought no answer, as the error a caller sees.
  mcp_error failure(const exchange& x, const std::string& method) const {
    const auto& o = x.outcome;
    if (o.status == 0)
      return mcp_error(o.error_kind == "timeout" ? "timeout" : "mcp_unavailable",
                       where() + ", " + method + ": " + (o.error.empty() ? o.error_kind : o.error));
    if (o.status != 200 && o.status != 202) {
      auto snippet = o.body.substr(0, 300);
      if (has_control_chars(snippet)) snippet = "(binary)";
      return mcp_error("mcp_unavailable", where() + " answered " + method + " with HTTP " + std::to_string(o.status) +
                                              (snippet.empty() ? "" : ": " + snippet));
    }
    return mcp_error("mcp_unavailable", where() + " ended its answer to " + method + " without the response");
  }

  // The handshake, once for all callers (a second waits for the first one's).
  void ensure_session() {
    std::lock_guard<std::mutex> starting(start_mutex);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (initialized) return;
      protocol.clear();
      session.clear();
    }
    auto id = next();
    nlohmann::json hello{{"jsonrpc", "2.0"}, {"id", id}, {"method", "initialize"}, {"params", mcp_initialize_params()}};
    auto x = post("POST", hello, id, def.timeout_ms, true, "");
    if (!x->answered) throw failure(*x, "initialize");
    if (x->answer.contains("error")) throw mcp_error_answer(def.name, x->answer["error"]);
    auto result = x->answer.value("result", nlohmann::json::object());
    auto version = result.is_object() ? result.value("protocolVersion", nlohmann::json()) : nlohmann::json();
    const auto& sid = x->outcome.session_id;
    if (has_control_chars(sid) || (version.is_string() && has_control_chars(version.get<std::string>())))
      throw mcp_error("mcp_unavailable", where() + " gave a session id or version that cannot be sent back");
    {
      std::lock_guard<std::mutex> lock(mutex);
      session = sid;
      protocol = version.is_string() ? version.get<std::string>() : mcp_protocol_version;
    }
    auto ready = post("POST", {{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, -1, def.timeout_ms, true, sid);
    if (ready->outcome.status != 202 && ready->outcome.status != 200) throw failure(*ready, "notifications/initialized");
    std::lock_guard<std::mutex> lock(mutex);
    initialized = true;
  }

  // The server no longer knows `sent`: the next request makes a new session.
  void forget(const std::string& sent) {
    std::lock_guard<std::mutex> lock(mutex);
    if (session == sent) initialized = false;
  }

  void end_session() {
    auto sid = current_session();
    if (sid.empty()) return;
    try {
      post("DELETE", nlohmann::json(), -1, 1000, true, sid);
    } catch (const mcp_error&) {
    }  // the server forgets it in time anyway
  }

  int64_t next() {
    std::lock_guard<std::mutex> lock(mutex);
    return next_id++;
  }

  mcp_server_def def;
  http_target target;
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string bearer;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::shared_ptr<std::atomic<int64_t>> open_count = std::make_shared<std::atomic<int64_t>>(0);
  std::mutex start_mutex;
  std::mutex mutex;  // what follows
  std::vector<std::shared_ptr<http_connection>> idle;
  std::string session;
  std::string protocol;
  bool initialized = false;
  int64_t next_id = 1;
  static constexpr int max_refusals_in_flight = 4;
  static constexpr size_t max_waiting_refusals = 64;
  std::mutex refusals_mutex;  // what follows
  int refusals_in_flight = 0;
  std::deque<std::string> waiting_refusals;  // requests of refusals not sent yet
  std::thread thread;
};

mcp_http_client::mcp_http_client(mcp_server_def def) : mcp_client(std::move(def)), impl_(std::make_unique<impl>(def_)) {}

mcp_http_client::~mcp_http_client() = default;

nlohmann::json mcp_http_client::request(const std::string& method, nlohmann::json params, int timeout_ms) {
  for (int round = 0;; ++round) {
    impl_->ensure_session();
    auto sent = impl_->current_session();
    auto id = impl_->next();
    auto x = impl_->post("POST", {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}, id,
                         timeout_ms, false, sent);
    if (x->answered) {
      if (x->answer.contains("error")) throw mcp_error_answer(def_.name, x->answer["error"]);
      return x->answer.value("result", nlohmann::json::object());
    }
    auto status = x->outcome.status;
    if (round == 0 && !sent.empty() && (status == 404 || status == 400)) {
      impl_->forget(sent);
      continue;
    }
    throw impl_->failure(*x, method);
  }
}

}  // namespace cohort
