// One endpoint's calls (see http_endpoint.hpp): the request bytes, the connections,
// and reading an answer, whole or streamed as SSE, into a model_reply with precise
// errors. The I/O side runs on the io_context's thread; the rest in the owner actor.
#include "models/http/http_endpoint.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/post.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "messages/atoms.hpp"
#include "messages/input_limits.hpp"
#include "models/chat_completions.hpp"
#include "models/http/http_answers.hpp"
#include "models/http/http_connection.hpp"
#include "models/http/sse_parser.hpp"
#include "models/http/tls_client.hpp"
#include "models/token_estimate.hpp"
#include "spec/model_reader.hpp"

namespace cohort {
namespace {

namespace http = boost::beast::http;
using connection_ptr = std::shared_ptr<http_connection>;
using connection_set = std::unordered_set<connection_ptr>;

struct endpoint {
  std::string host;
  std::string port;
  std::string host_header;  // host, with the port unless it is the scheme's default
  std::string target;       // path of chat completions
  std::string url;          // for messages
  std::shared_ptr<boost::asio::ssl::context> tls;  // https only
  bool tls_verify = true;
  std::string tls_error;    // the TLS context could not be made: every call fails with it
  std::map<std::string, std::string> headers;
  std::string request_head;  // see render_request_head
};

// The request's header, rendered by Beast once per client: every call sends the same
// one, but for its API key and Content-Length (see request_bytes).
std::string render_request_head(const model_def& m, const endpoint& ep) {
  http::request<http::empty_body> r{http::verb::post, ep.target, 11};
  r.set(http::field::host, ep.host_header);
  r.set(http::field::content_type, "application/json");
  if (m.stream) r.set(http::field::accept, "text/event-stream");
  r.set(http::field::user_agent, "cohort/0.1");
  for (const auto& [name, value] : ep.headers) r.set(name, value);
  std::ostringstream text;
  text << r.base();
  auto head = text.str();
  head.resize(head.size() - 2);  // the blank line that ends it comes after the per-call fields
  return head;
}

// CR or LF in a key would end its header line and start others of the server's
// choosing (header injection): a key with any control character is never sent.
std::optional<std::string> api_key_problem(const std::string& api_key_env) {
  const char* key = api_key_env.empty() ? nullptr : std::getenv(api_key_env.c_str());
  if (!key || !has_control_chars(key)) return std::nullopt;
  return "the API key in $" + api_key_env +
         " contains a control character (a line break?), which would end its header: the request was not sent";
}

// A header line naming who asks (a router in front of vLLM keeps a workflow on one
// server with it); a scenario's names may hold anything, so control characters are
// dropped and the value is cut to 256 bytes.
void append_caller_header(std::string& bytes, const char* name, const std::string& value) {
  if (value.empty()) return;
  bytes.append(name).append(": ");
  size_t kept = 0;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) continue;
    bytes.push_back(static_cast<char>(c));
    if (++kept == 256) break;
  }
  bytes.append("\r\n");
}

// One call's bytes, sent as one buffer (a fraction of the cost of Beast's serializer
// on every call): the rendered head; the API key, read from its variable on each
// request as docs/models.md promises; who asks; the Content-Length; the body.
std::string request_bytes(const endpoint& ep, const std::string& api_key_env, const model_request& req,
                          const std::string& body) {
  const char* key = api_key_env.empty() ? nullptr : std::getenv(api_key_env.c_str());
  auto length = std::to_string(body.size());
  std::string bytes;
  bytes.reserve(ep.request_head.size() + (key ? std::strlen(key) + 32 : 0) + length.size() + body.size() + 64 +
                req.run_id.size() + req.path.size());
  bytes.append(ep.request_head);
  if (key && !has_control_chars(key)) bytes.append("Authorization: Bearer ").append(key).append("\r\n");
  append_caller_header(bytes, "X-Workflow-Id", req.run_id);
  append_caller_header(bytes, "X-Agent-Id", req.path);
  bytes.append("Content-Length: ").append(length).append("\r\n\r\n").append(body);
  return bytes;
}

endpoint parse_endpoint(const model_def& m) {
  auto url = boost::urls::parse_absolute_uri(m.base_url);
  endpoint e;
  if (!url || (url->has_port() && !detail::usable_port(url->port()))) return e;  // validated when the scenario loaded
  bool https = url->scheme() == "https";
  const char* default_port = https ? "443" : "80";
  e.host = url->host_address();  // an IPv6 address without its brackets
  e.port = url->has_port() ? std::string(url->port()) : default_port;
  std::string host_in_url(url->encoded_host());
  e.host_header = e.port == default_port ? host_in_url : host_in_url + ":" + e.port;
  std::string path(url->path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.target = path + "/chat/completions";
  e.url = std::string(url->scheme()) + "://" + host_in_url + ":" + e.port + e.target;
  const auto& def = m.endpoints.at(0);
  e.headers = def.headers;
  e.tls_verify = def.tls_verify;
  if (https) {
    try {
      e.tls = make_tls_client_context({def.ca_file, def.tls_verify});
    } catch (const std::exception& ex) {
      e.tls_error = ex.what();
    }
  }
  e.request_head = render_request_head(m, e);
  return e;
}

// A finished request, on its way from an I/O thread to the client actor.
struct completion {
  uint64_t id = 0;
  http_outcome out;
  model_reply reply;
  bool never_sent = false;  // refused before any I/O (the TLS context could not be made)
};

// Completions reach the actor in batches, told once per batch: a message for every
// call would wake a scheduler thread (across cores, in a VM an interrupt) for each.
class completion_inbox {
 public:
  // True when the inbox was empty: the caller arranges to tell the actor.
  bool put(completion c) {
    std::lock_guard<std::mutex> guard(mutex_);
    items_.push_back(std::move(c));
    return items_.size() == 1;
  }
  std::vector<completion> take() {
    std::lock_guard<std::mutex> guard(mutex_);
    return std::exchange(items_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<completion> items_;
};


}  // namespace

struct http_endpoint::impl {
  std::shared_ptr<const model_def> model;
  std::shared_ptr<const endpoint> ep;
  boost::asio::io_context* io;
  std::shared_ptr<std::atomic<int64_t>> open_connections;
  std::function<void()> wake;
  std::shared_ptr<completion_inbox> inbox = std::make_shared<completion_inbox>();
  struct call {
    std::shared_ptr<const model_request> req;
    connection_ptr conn;
    bool retried_stale = false;
  };
  std::unordered_map<uint64_t, call> active;
  std::vector<connection_ptr> idle;
  connection_set all;

  // A finished call into the inbox; the owner is woken once per batch, after the
  // handlers already queued have run, so the answers this round of I/O brought in
  // go together.
  static void finish(const std::shared_ptr<completion_inbox>& inbox, boost::asio::io_context* io,
                     const std::function<void()>& wake, completion c) {
    if (!inbox->put(std::move(c))) return;  // the owner will be woken
    boost::asio::post(*io, wake);
  }

  void send(call c) {
    if (!idle.empty()) {
      c.conn = idle.back();
      idle.pop_back();
    } else {
      c.conn = make_http_connection(*io, ep->host, ep->port, ep->tls, ep->tls_verify, open_connections);
      all.insert(c.conn);
    }
    auto connect_timeout = std::chrono::milliseconds(model->connect_timeout_ms);
    auto request_timeout = std::chrono::milliseconds(model->request_timeout_ms);
    auto encode = [m = model, ep = ep, req = c.req] { return request_bytes(*ep, m->api_key_env, *req, chat_request_body(*m, *req)); };
    auto done = [inbox = inbox, io = io, wake = wake](uint64_t id, http_outcome out, model_reply reply) {
      out.body.clear();
      finish(inbox, io, wake, {id, std::move(out), std::move(reply)});
    };
    if (!model->stream) {
      c.conn->send(encode, connect_timeout, request_timeout, [done, ep = ep, req = c.req](http_outcome out) {
        done(req->id, out, guarded(ep->url, [&] { return interpret(ep->url, out, *req); }));
      });
    } else {
      // Both callbacks run on the connection's strand, one after the other.
      auto assembly = std::make_shared<stream_assembly>();
      c.conn->send(
          encode, connect_timeout, request_timeout,
          [done, ep = ep, req = c.req, assembly](http_outcome out) {
            auto reply = guarded(ep->url, [&] {
              if (out.error_kind.empty() && out.status == 200) feed_stream(*assembly, *req, nullptr);
              return interpret_stream(ep->url, out, *assembly, *req);
            });
            if (req->on_delta) {
              // A plain JSON answer (no events) is its own one piece. A failure after some
              // pieces voids them, said before the failure so any retry's pieces come after.
              if (reply.ok && !assembly->saw_event && !reply.text.empty())
                caf::anon_send(req->on_delta, stream_delta_atom::value, req->id, reply.text);
              if (!reply.ok && assembly->pieces_sent > 0)
                caf::anon_send(req->on_delta, stream_reset_atom::value, req->id);
            }
            done(req->id, out, std::move(reply));
          },
          [req = c.req, assembly](const std::string& bytes) { feed_stream(*assembly, *req, &bytes); });
    }
    auto id = c.req->id;
    active.emplace(id, std::move(c));
  }

  void drop(const connection_ptr& conn) {
    conn->close();
    all.erase(conn);
  }
};

http_endpoint::http_endpoint(const model_def& model, boost::asio::io_context& io,
                             std::shared_ptr<std::atomic<int64_t>> open_connections, std::function<void()> wake)
    : impl_(std::make_unique<impl>()) {
  impl_->model = std::make_shared<const model_def>(model);
  impl_->ep = std::make_shared<const endpoint>(parse_endpoint(model));
  impl_->io = &io;
  impl_->open_connections = std::move(open_connections);
  impl_->wake = std::move(wake);
}

http_endpoint::~http_endpoint() { close(); }

void http_endpoint::start(std::shared_ptr<const model_request> req) {
  auto& st = *impl_;
  if (!st.ep->tls_error.empty()) {  // never sent: its error is its reply
    model_reply r;
    r.error = {"tls", st.ep->tls_error + " (" + st.ep->url + ")"};
    impl::finish(st.inbox, st.io, st.wake, {req->id, http_outcome{}, std::move(r), true});
    return;
  }
  if (auto problem = api_key_problem(st.model->api_key_env)) {
    model_reply r;
    r.error = {"invalid_input", *problem + " (" + st.ep->url + ")"};
    impl::finish(st.inbox, st.io, st.wake, {req->id, http_outcome{}, std::move(r), true});
    return;
  }
  st.send({std::move(req), nullptr, false});
}

bool http_endpoint::cancel(uint64_t id) {
  auto& st = *impl_;
  auto it = st.active.find(id);
  if (it == st.active.end()) return false;
  st.drop(it->second.conn);  // closes the socket: the server sees the request go
  st.active.erase(it);
  return true;
}

std::vector<model_reply> http_endpoint::take_finished() {
  auto& st = *impl_;
  std::vector<model_reply> replies;
  for (auto& done : st.inbox->take()) {
    done.reply.id = done.id;
    if (done.never_sent) {
      replies.push_back(std::move(done.reply));
      continue;
    }
    auto it = st.active.find(done.id);
    if (it == st.active.end()) continue;  // cancelled meanwhile
    auto c = std::move(it->second);
    st.active.erase(it);
    if (done.out.stale && !c.retried_stale) {
      st.drop(c.conn);
      c.retried_stale = true;
      c.conn = nullptr;
      for (auto& sibling : st.idle) st.drop(sibling);  // idle as long: likely stale too
      st.idle.clear();
      st.send(std::move(c));
      continue;
    }
    if (done.out.error_kind.empty() && done.out.keep_alive) st.idle.push_back(c.conn);
    else st.drop(c.conn);
    replies.push_back(std::move(done.reply));
  }
  return replies;
}

size_t http_endpoint::in_flight() const { return impl_->active.size(); }

void http_endpoint::close() {
  auto& st = *impl_;
  // Idle connections end the orderly way; those with a call in flight are withdrawn (reset).
  for (auto& c : st.idle) {
    c->close_gracefully();
    st.all.erase(c);
  }
  for (auto& c : st.all) c->close();
  st.all.clear();
  st.idle.clear();
  st.active.clear();
}

std::function<void()> wake_by_message(caf::abstract_actor* owner) {
  return [weak = caf::weak_actor_ptr{owner->ctrl()}] {
    if (auto alive = weak.lock()) caf::anon_send(caf::actor_cast<caf::actor>(alive), http_done_atom::value);
  };
}

}  // namespace cohort
