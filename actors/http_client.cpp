// The HTTP-client actor for one OpenAI-compatible endpoint: POST /chat/completions,
// keep-alive connection reuse, at most max_in_flight requests with a queue beyond,
// precise errors, and cancellation that closes the in-flight request at once.
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/url/parse.hpp>
#include <caf/all.hpp>

#include "actors/http_connection.hpp"
#include "actors/model_providers.hpp"
#include "actors/sim_responder.hpp"
#include "messages/atoms.hpp"
#include "messages/model_call.hpp"


namespace cohort {
namespace {

namespace http = boost::beast::http;
using connection_ptr = std::shared_ptr<http_connection>;
using connection_set = std::unordered_set<connection_ptr>;

struct endpoint {
  std::string host;
  std::string port;
  std::string target;  // path of chat completions
  std::string url;     // for messages
};

endpoint parse_endpoint(const model_def& m) {
  auto url = boost::urls::parse_absolute_uri(m.base_url);
  endpoint e;
  if (!url) return e;  // validated when the scenario loaded
  e.host = std::string(url->host());
  e.port = url->has_port() ? std::string(url->port()) : "80";
  std::string path(url->path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.target = path + "/chat/completions";
  e.url = "http://" + e.host + ":" + e.port + e.target;
  return e;
}

struct call {
  std::shared_ptr<const model_request> req;  // shared with the I/O thread that encodes it
  caf::response_promise promise;
  connection_ptr conn;
  bool retried_stale = false;
};

struct client_state {
  const char* name = "http_client";
  std::unordered_map<uint64_t, call> active;
  // Beyond max_in_flight: highest priority first, then in order of arrival (ids grow).
  std::map<std::pair<int64_t, uint64_t>, call> queued;
  std::vector<connection_ptr> idle;
  std::shared_ptr<connection_set> all = std::make_shared<connection_set>();
};

using client_actor = caf::stateful_actor<client_state>;

std::string excerpt(const std::string& body) {
  auto s = body.substr(0, 300);
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return body.size() > 300 ? s + "..." : s;
}

// Retry-After in seconds (the HTTP-date form is rare from model servers: ignored).
int64_t retry_after_ms(const std::string& value) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 6) return -1;
  return std::stoll(value) * 1000;
}

model_reply interpret(const endpoint& ep, const http_outcome& out) {
  model_reply r;
  if (!out.error_kind.empty()) {
    r.error = {out.error_kind, out.error + " (" + ep.url + ")"};
    return r;
  }
  if (out.status != 200) {
    auto status = "HTTP " + std::to_string(out.status) + " from " + ep.url;
    if (out.status == 429) {
      r.error = {"rate_limited", status + (out.retry_after.empty() ? "" : " (Retry-After: " + out.retry_after + ")") +
                                     ": " + excerpt(out.body)};
      r.error.retry_after_ms = retry_after_ms(out.retry_after);
    } else {
      r.error = {out.status >= 500 ? "server_error" : "http_status", status + ": " + excerpt(out.body)};
    }
    return r;
  }
  auto doc = nlohmann::json::parse(out.body, nullptr, false);
  if (doc.is_discarded()) {
    r.error = {"malformed_response", "malformed JSON in the response from " + ep.url + ": " + excerpt(out.body)};
    return r;
  }
  const nlohmann::json* content = nullptr;
  if (doc.contains("choices") && doc["choices"].is_array() && !doc["choices"].empty()) {
    const auto& c = doc["choices"][0];
    // A model given `tools` may answer with calls instead of text (content null or
    // beside them). Cohort does not run tool calls yet: say so, rather than "malformed"
    // (which would retry, fail over and count against a healthy endpoint's breaker).
    if (c.contains("message") && c["message"].is_object() && c["message"].contains("tool_calls") &&
        c["message"]["tool_calls"].is_array() && !c["message"]["tool_calls"].empty()) {
      std::string names;
      for (const auto& call : c["message"]["tool_calls"]) {
        std::string name = "?";
        if (call.is_object() && call.contains("function") && call["function"].is_object() &&
            call["function"].contains("name") && call["function"]["name"].is_string())
          name = call["function"]["name"].get<std::string>();
        names += (names.empty() ? "" : ", ") + name;
      }
      r.error = {"unsupported_response", "the model answered with tool calls (" + names +
                                             "), which cohort does not run yet; response from " + ep.url +
                                             ": " + excerpt(out.body)};
      return r;
    }
    if (c.contains("message") && c["message"].is_object() && c["message"].contains("content") &&
        c["message"]["content"].is_string())
      content = &c["message"]["content"];
  }
  if (!content) {
    r.error = {"malformed_response",
               "response from " + ep.url + " has no choices[0].message.content: " + excerpt(out.body)};
    return r;
  }
  r.ok = true;
  r.text = content->get<std::string>();
  if (doc.contains("usage") && doc["usage"].is_object()) {
    r.prompt_tokens = doc["usage"].value("prompt_tokens", int64_t{0});
    r.completion_tokens = doc["usage"].value("completion_tokens", int64_t{0});
  } else {
    r.completion_tokens = estimate_tokens(r.text);
    r.usage_estimated = true;
  }
  return r;
}

http_connection::request make_request(const model_def& m, const endpoint& ep, const model_request& req) {
  nlohmann::json body = m.params.is_object() ? m.params : nlohmann::json::object();
  if (req.params.is_object()) body.update(req.params);
  body["model"] = m.model;
  body["messages"] = req.messages;
  body["stream"] = false;
  http_connection::request r{http::verb::post, ep.target, 11};
  r.set(http::field::host, ep.host + ":" + ep.port);
  r.set(http::field::content_type, "application/json");
  r.set(http::field::user_agent, "cohort/0.1");
  r.keep_alive(true);
  if (!m.api_key_env.empty())
    if (const char* key = std::getenv(m.api_key_env.c_str())) r.set(http::field::authorization, std::string("Bearer ") + key);
  r.body() = body.dump();
  r.prepare_payload();
  return r;
}

caf::behavior http_client(client_actor* self, model_def model, boost::asio::io_context* io,
                          std::shared_ptr<std::atomic<int64_t>> open_connections) {
  auto ep = std::make_shared<const endpoint>(parse_endpoint(model));
  auto model_ptr = std::make_shared<const model_def>(model);
  auto all = self->state.all;
  // Whatever ends this actor, no connection outlives it (a backstop for `kill`).
  self->attach_functor([all] {
    for (auto& c : *all) c->close();
    all->clear();
  });
  // The orderly end (the run is over): close every connection and let go of them
  // here, in the actor's own context, so none lives on inside the actor's state.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& c : *st.all) c->close();
    st.all->clear();
    st.idle.clear();
    auto stopped = [](uint64_t id) { return model_reply{id, false, {"cancelled", "model client stopped"}, {}, 0, 0, false}; };
    for (auto& kv : st.active) kv.second.promise.deliver(stopped(kv.first));
    st.active.clear();
    for (auto& [key, c] : st.queued) c.promise.deliver(stopped(c.req->id));
    st.queued.clear();
    self->quit(msg.reason);
  });
  // Completions hold only a weak handle: a pending I/O handler must not keep this actor alive.
  caf::weak_actor_ptr weak_self{self->ctrl()};
  auto max_in_flight = static_cast<size_t>(std::max(1, model.max_in_flight));

  auto start = [=](call c) {
    auto& st = self->state;
    if (!st.idle.empty()) {
      c.conn = st.idle.back();
      st.idle.pop_back();
    } else {
      c.conn = std::make_shared<http_connection>(*io, ep->host, ep->port, open_connections);
      st.all->insert(c.conn);
    }
    auto id = c.req->id;
    // The response is parsed on the I/O thread: one client actor serves every call to
    // the endpoint and should only route.
    // Encoding the request, like parsing the response, happens on an I/O thread.
    boost::asio::post(*io, [conn = c.conn, m = model_ptr, ep, req = c.req, weak_self] {
      conn->send(make_request(*m, *ep, *req), std::chrono::milliseconds(m->connect_timeout_ms),
                 std::chrono::milliseconds(m->request_timeout_ms), [weak_self, ep, id = req->id](http_outcome out) {
                   auto me = weak_self.lock();
                   if (!me) return;
                   auto reply = interpret(*ep, out);
                   out.body.clear();
                   caf::anon_send(caf::actor_cast<caf::actor>(me), http_done_atom::value, id, std::move(out),
                                  std::move(reply));
                 });
    });
    st.active.emplace(id, std::move(c));
  };

  auto pump = [=] {
    auto& st = self->state;
    while (!st.queued.empty() && st.active.size() < max_in_flight) {
      auto c = std::move(st.queued.begin()->second);
      st.queued.erase(st.queued.begin());
      start(std::move(c));
    }
  };

  auto drop = [=](const connection_ptr& conn) {
    conn->close();
    self->state.all->erase(conn);
  };

  return {
    [=](model_request& req) -> caf::result<model_reply> {
      call c;
      c.promise = self->make_response_promise();
      c.req = std::make_shared<const model_request>(std::move(req));
      auto rp = c.promise;
      if (self->state.active.size() < max_in_flight) start(std::move(c));
      else self->state.queued.emplace(std::make_pair(-int64_t{c.req->priority}, c.req->id), std::move(c));
      return rp;
    },
    [=](http_done_atom, uint64_t id, http_outcome& out, model_reply& reply) {
      auto& st = self->state;
      auto it = st.active.find(id);
      if (it == st.active.end()) return;  // cancelled meanwhile
      auto c = std::move(it->second);
      st.active.erase(it);
      if (out.stale && !c.retried_stale) {
        // The server had closed this idle keep-alive connection; try once on a fresh one.
        drop(c.conn);
        c.retried_stale = true;
        c.conn = nullptr;
        for (auto& sibling : st.idle) drop(sibling);  // idle as long: likely stale too
        st.idle.clear();
        start(std::move(c));
        return;
      }
      if (out.error_kind.empty() && out.keep_alive) st.idle.push_back(c.conn);
      else drop(c.conn);
      reply.id = id;
      c.promise.deliver(std::move(reply));
      pump();
    },
    [=](cancel_req_atom, uint64_t id) {
      auto& st = self->state;
      if (auto it = st.active.find(id); it != st.active.end()) {
        drop(it->second.conn);  // closes the socket: the server sees the request go
        st.active.erase(it);
        pump();
        return;
      }
      for (auto q = st.queued.begin(); q != st.queued.end(); ++q)
        if (q->first.second == id) {
          st.queued.erase(q);
          return;
        }
    },
  };
}

}  // namespace

caf::actor spawn_http_client(caf::actor_system& sys, const model_def& model, boost::asio::io_context& io,
                             std::shared_ptr<std::atomic<int64_t>> open_connections) {
  return sys.spawn(http_client, model, &io, std::move(open_connections));
}

}  // namespace cohort
