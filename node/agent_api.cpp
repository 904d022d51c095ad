#include "node/agent_api.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

#include <boost/beast/http/verb.hpp>
#include <caf/all.hpp>

#include "messages/coordination.hpp"
#include "node/request_parts.hpp"
#include "run/external_desk.hpp"
#include "run/run_context.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort::node {
namespace {

namespace http = boost::beast::http;
using context_ptr = std::shared_ptr<const run_context>;
constexpr size_t max_content_bytes = 1u << 20;  // one message over HTTP

// Asks `to` from a short-lived actor and gives the answer, or the error, to `done`
// (on an actor thread). The actor lives until the answer comes.
template <class Reply, class Message>
void ask(caf::actor_system& sys, const caf::actor& to, Message message, int64_t limit_ms,
         std::function<void(caf::expected<Reply>)> done) {
  sys.spawn([to, message = std::move(message), limit_ms, done = std::move(done)](caf::event_based_actor* self) {
    self->request(to, std::chrono::milliseconds(limit_ms), message)
        .then([done](Reply& r) { done(std::move(r)); }, [done](caf::error& e) { done(std::move(e)); });
  });
}

// The same, for a wait the HTTP client may give up by hanging up: told a Withdrawal
// then, the actor passes it on to `to`, where it comes after the request.
template <class Reply, class Message, class Withdrawal>
caf::actor ask_withdrawable(caf::actor_system& sys, const caf::actor& to, Message message, int64_t limit_ms,
                            std::function<void(caf::expected<Reply>)> done) {
  return sys.spawn([to, message = std::move(message), limit_ms,
                    done = std::move(done)](caf::event_based_actor* self) -> caf::behavior {
    self->request(to, std::chrono::milliseconds(limit_ms), message)
        .then(
            [=](Reply& r) {
              done(std::move(r));
              self->quit();
            },
            [=](caf::error& e) {
              done(std::move(e));
              self->quit();
            });
    return {[=](Withdrawal& w) { self->send(to, std::move(w)); }};
  });
}

// A coordination error as the route answers it.
http_reply refusal(const caf::error& e, const std::string& where) {
  unsigned status = 409;
  std::string kind = "failed";
  if (e.category() == caf::atom("coord")) {
    auto code = static_cast<coordination_errc>(e.code());
    kind = to_string(code);
    if (code == coordination_errc::timeout) status = 408;
    if (code == coordination_errc::invalid_argument) status = 400;
    if (code == coordination_errc::mailbox_full) status = 429;
  } else if (e == caf::sec::request_timeout) {
    status = 408;
    kind = "timeout";
  }
  return json_reply(status, api_error(status, kind, coordination_error_text(e), {{where, kind}}).to_json());
}

nlohmann::json message_json(const bus_message& m) {
  return {{"id", m.id}, {"from", m.from}, {"to", m.to}, {"content", m.payload}};
}

// One long poll of an HTTP client for its messages. The client may hang up while it
// waits: then its receive is withdrawn, and messages the bus had already handed over
// that were not written to it go back to its mailbox, so a hang-up loses nothing.
class long_poll : public std::enable_shared_from_this<long_poll> {
 public:
  long_poll(caf::actor_system& sys, caf::actor bus, bus_receive r) : sys_(sys), bus_(std::move(bus)), r_(std::move(r)) {}

  void start(reply_sink sink, const std::string& where) {
    auto asker = ask_withdrawable<std::vector<bus_message>, bus_receive, bus_withdraw>(
        sys_, bus_, r_, r_.timeout_ms + 5000,
        [poll = shared_from_this(), sink = std::move(sink), where](caf::expected<std::vector<bus_message>> got) {
          poll->answer(sink, where, std::move(got));
        });
    std::lock_guard<std::mutex> lock(mutex_);
    asker_ = asker.address();  // weak: the asker holds this poll until it answers
  }

  // Called by the server only while the answer has not been written.
  void client_gone() {
    std::lock_guard<std::mutex> lock(mutex_);
    gone_ = true;
    if (given_)
      caf::anon_send(bus_, bus_withdraw{r_.name, 0, std::move(*given_)});
    else if (auto asker = caf::actor_cast<caf::actor>(asker_))
      caf::anon_send(asker, bus_withdraw{r_.name, r_.ticket, {}});
  }

 private:
  void answer(const reply_sink& sink, const std::string& where, caf::expected<std::vector<bus_message>> got) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (gone_) {
      if (got && !got->empty()) caf::anon_send(bus_, bus_withdraw{r_.name, 0, std::move(*got)});
      return;
    }
    auto list = nlohmann::json::array();
    if (got) {
      for (const auto& m : *got) list.push_back(message_json(m));
      given_ = std::move(*got);
    } else if (!(got.error().category() == caf::atom("coord") &&
                 static_cast<coordination_errc>(got.error().code()) == coordination_errc::timeout)) {
      return sink(refusal(got.error(), where));
    }
    sink(json_reply(200, {{"messages", std::move(list)}}));  // a long poll that timed out: none
  }

  caf::actor_system& sys_;
  caf::actor bus_;
  bus_receive r_;
  std::mutex mutex_;
  bool gone_ = false;
  std::optional<std::vector<bus_message>> given_;  // handed to the server, maybe not written
  caf::actor_addr asker_;
};

const agent_def& declared_agent(const run_context& ctx, const std::string& agent, const std::string& path) {
  auto it = ctx.spec->agents.find(agent);
  if (it == ctx.spec->agents.end())
    throw api_error(404, "unknown_agent", "the run's scenario has no agent \"" + agent + "\"", {{path, "route"}});
  return it->second;
}

const agent_def& external_agent(const run_context& ctx, const std::string& agent, const std::string& path) {
  const auto& def = declared_agent(ctx, agent, path);
  if (def.type != agent_type::external)
    throw api_error(
        409, "not_external",
        "agent \"" + agent + "\" runs in the run; only an agent of \"type\": \"external\" is played from outside",
        {{path, "route"}});
  return def;
}

std::vector<std::string> recipients(const nlohmann::json& to) {
  std::vector<std::string> names;
  auto bad = [] {
    return api_error(400, "invalid_request", "\"to\" must be a name, a list of 1 to 1000 names, or \"*\"",
                     {{"$.to", "not recipients"}});
  };
  if (to.is_string())
    names.push_back(to.get<std::string>());
  else if (to.is_array() && !to.empty() && to.size() <= 1000)
    for (const auto& n : to) {
      if (!n.is_string()) throw bad();
      names.push_back(n.get<std::string>());
    }
  else
    throw bad();
  for (const auto& n : names)
    if (n.empty() || n.size() > 256) throw bad();
  return names;
}

class workflow_routes {
 public:
  workflow_routes(caf::actor_system& sys, std::string run, context_ptr ctx, std::string path)
      : sys_(sys), run_(std::move(run)), ctx_(std::move(ctx)), path_(std::move(path)) {}

  http_reply send(const std::string& agent, const nlohmann::json& body) {
    if (!body.is_object() || !body.contains("to") || !body.contains("content"))
      throw api_error(400, "invalid_request", "the body is {\"to\": NAME | [NAMES] | \"*\", \"content\": ...}",
                      {{"$", "needs to and content"}});
    // The run's bus keeps what is sent until it is read: one message is bounded.
    if (body["content"].dump().size() > max_content_bytes)
      throw api_error(413, "content_too_large",
                      "\"content\" is larger than " + std::to_string(max_content_bytes) + " bytes as JSON",
                      {{"$.content", "too large"}});
    const auto& to = body["to"];
    if (to == "*")
      return later<bus_ack>(ctx_->bus, bus_broadcast{agent, body["content"]}, 5000, [](bus_ack& a) {
        return json_reply(200, {{"id", a.id}, {"delivered", a.delivered}});
      });
    auto names = recipients(to);
    // One request a recipient, in order (the bus keeps one sender's order); the answer
    // lists each message's id, or the first refusal (what went before it is delivered).
    http_reply reply;
    reply.later = [sys = &sys_, bus = ctx_->bus, agent, names, content = body["content"],
                   where = path_](reply_sink sink) {
      auto ids = std::make_shared<std::vector<nlohmann::json>>(names.size());
      auto left = std::make_shared<std::atomic<size_t>>(names.size());
      auto failed = std::make_shared<std::atomic<bool>>(false);
      for (size_t i = 0; i < names.size(); ++i)
        ask<bus_ack>(*sys, bus, bus_send{agent, names[i], content}, 5000, [=](caf::expected<bus_ack> a) {
          if (!a) {
            if (!failed->exchange(true)) sink(refusal(a.error(), where));
            return;
          }
          (*ids)[i] = {{"to", names[i]}, {"id", a->id}};
          if (--*left == 0 && !failed->load()) sink(json_reply(200, {{"sent", *ids}}));
        });
    };
    return reply;
  }

  http_reply messages(const std::string& agent, const std::string& query) {
    auto max = query_int(query, "max", 1, 1000, 100);
    auto timeout_ms = query_int(query, "timeout_ms", 0, 60000, 0);
    bus_receive r{agent, static_cast<uint32_t>(max), std::max<int64_t>(1, timeout_ms), true, next_bus_ticket()};
    auto poll = std::make_shared<long_poll>(sys_, ctx_->bus, r);
    http_reply reply;
    reply.later = [poll, where = path_](reply_sink sink) { poll->start(std::move(sink), where); };
    reply.on_hangup = [poll] { poll->client_gone(); };
    return reply;
  }

  http_reply barrier(const nlohmann::json& body) {
    auto text = [&](const char* key) {
      auto it = body.find(key);
      if (it == body.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
        throw api_error(400, "invalid_request", std::string("\"") + key + "\" must be a non-empty string",
                        {{std::string("$.") + key, "missing"}});
      return it->get<std::string>();
    };
    if (!body.is_object())
      throw api_error(400, "invalid_request", "the body must be a JSON object", {{"$", "not an object"}});
    barrier_arrive a{text("name"), text("agent"), body.value("value", nlohmann::json()), 30000};
    if (auto t = body.find("timeout_ms"); t != body.end()) {
      if (!t->is_number_integer() || t->get<int64_t>() < 1 || t->get<int64_t>() > 600000)
        throw api_error(400, "invalid_request", "\"timeout_ms\" must be a whole number from 1 to 600000",
                        {{"$.timeout_ms", "out of range"}});
      a.timeout_ms = t->get<int64_t>();
    }
    if (!ctx_->spec->barriers.count(a.name))
      throw api_error(404, "unknown_barrier", "the run's scenario declares no sync point \"" + a.name + "\"",
                      {{"$.name", "unknown"}});
    // A party whose client hangs up before the release no longer waits there: its
    // arrival is undone (the others wait on), and it may arrive again.
    http_reply reply;
    auto asker = std::make_shared<caf::actor_addr>();  // set and read on the connection's strand
    reply.later = [sys = &sys_, barrier = ctx_->barrier, a, asker, where = path_](reply_sink sink) {
      *asker = ask_withdrawable<barrier_release, barrier_arrive, barrier_withdraw>(
                   *sys, barrier, a, a.timeout_ms + 5000,
                   [sink, where](caf::expected<barrier_release> r) { sink(r ? released(*r) : refusal(r.error(), where)); })
                   .address();
    };
    reply.on_hangup = [asker, name = a.name, party = a.party] {
      if (auto live = caf::actor_cast<caf::actor>(*asker)) caf::anon_send(live, barrier_withdraw{name, party});
    };
    return reply;
  }

  static http_reply released(const barrier_release& r) {
    return json_reply(
        200, {{"name", r.name}, {"generation", r.generation}, {"arrival_index", r.arrival_index}, {"result", r.result}});
  }

  http_reply check_in(const std::string& agent) {
    const auto& def = external_agent(*ctx_, agent, path_);
    caf::anon_send(ctx_->bus, bus_join_atom::value, agent);  // broadcasts reach it from now on
    bool first = ctx_->externals->check_in(agent);
    return json_reply(
        200,
        {{"run", run_}, {"agent", agent}, {"first", first}, {"timeout_ms", def.timeout_ms}, {"input", *ctx_->input}});
  }

  http_reply result(const std::string& agent, const nlohmann::json& body) {
    external_agent(*ctx_, agent, path_);
    if (!body.is_object() || !body.contains("output"))
      throw api_error(400, "invalid_request", "the body is {\"output\": ...}", {{"$.output", "missing"}});
    if (ctx_->externals->hand_in(agent, body["output"]) == external_desk::handed::already_given)
      throw api_error(409, "result_given", "agent \"" + agent + "\" has already handed in its result",
                      {{path_, "route"}});
    return json_reply(200, {{"accepted", true}});
  }

 private:
  // The answer of one request to `to`, made into a reply by `answer`.
  template <class Reply, class Message>
  http_reply later(const caf::actor& to, Message message, int64_t limit_ms, std::function<http_reply(Reply&)> answer) {
    http_reply reply;
    reply.later = [sys = &sys_, to, message = std::move(message), limit_ms, answer = std::move(answer),
                   where = path_](reply_sink sink) {
      ask<Reply>(*sys, to, message, limit_ms,
                 [=](caf::expected<Reply> r) { sink(r ? answer(*r) : refusal(r.error(), where)); });
    };
    return reply;
  }

  caf::actor_system& sys_;
  std::string run_;  // the node's id of the run
  context_ptr ctx_;
  std::string path_;
};

}  // namespace

http_reply agent_api::handle(const http_request& req, const std::string& path, const std::string& query) {
  // /v1/workflows/{run}/agents/{agent}/{action} or /v1/workflows/{run}/sync/barrier
  std::vector<std::string> parts;
  for (size_t at = 14; at <= path.size();) {  // after "/v1/workflows/"
    auto end = std::min(path.find('/', at), path.size());
    parts.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  bool agent_route = parts.size() == 4 && parts[1] == "agents";
  bool barrier_route = parts.size() == 3 && parts[1] == "sync" && parts[2] == "barrier";
  if (!agent_route && !barrier_route) throw api_error(404, "not_found", "no route " + path, {{path, "route"}});
  if (!plain_name(parts[0])) throw api_error(404, "unknown_run", "no run " + parts[0], {{path, "route"}});
  if (agent_route && !plain_name(parts[2]))
    throw api_error(400, "invalid_name", "an agent name in a route is 1 to 128 letters, digits, '-', '_', '.'",
                    {{path, "route"}});
  auto expect = [&](http::verb verb) {
    if (req.method() != verb) throw method_not_allowed(req, path);
  };
  workflow_routes routes(runtime_access::system(runtime_), parts[0], runs_.live_context(parts[0]), path);
  if (barrier_route) {
    expect(http::verb::post);
    return routes.barrier(body_json(req));
  }
  const auto& agent = parts[2];
  const auto& action = parts[3];
  if (action == "messages") {
    expect(http::verb::get);
    return routes.messages(agent, query);
  }
  expect(http::verb::post);
  if (action == "send") return routes.send(agent, body_json(req));
  if (action == "register") return routes.check_in(agent);
  if (action == "result") return routes.result(agent, body_json(req));
  throw api_error(404, "not_found", "no route " + path, {{path, "route"}});
}

}  // namespace cohort::node
