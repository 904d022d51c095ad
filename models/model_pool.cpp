// The model pool actor (see model_pool.hpp). Calls wait in one FIFO queue; `pump`
// hands out the head while some endpoint can take it. The pool drives each
// endpoint's HTTP calls itself (http_endpoint): a call crosses no other actor.
#include "models/model_pool.hpp"

#include <chrono>
#include <deque>
#include <limits>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/model_call.hpp"
#include "models/affinity_table.hpp"
#include "models/circuit_breaker.hpp"
#include "models/http/http_endpoint.hpp"
#include "models/token_bucket.hpp"
#include "models/token_estimate.hpp"

namespace cohort {
namespace {

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// A 429 without a usable Retry-After still pauses its endpoint this long.
constexpr int64_t default_pause_ms = 1000;

struct endpoint_state {
  std::unique_ptr<http_endpoint> http;
  endpoint_def def;
  token_bucket requests;  // rpm
  token_bucket tokens;    // tpm
  circuit_breaker breaker;
  int64_t paused_until = 0;  // a 429's Retry-After
  int in_flight = 0;
  // For stats:
  int64_t sent = 0;
  int64_t succeeded = 0;
  int64_t failures = 0;
  int64_t failovers = 0;  // calls that failed here and went to another endpoint
  int64_t rate_limited = 0;
  int64_t tokens_used = 0;
};

struct pool_call {
  std::shared_ptr<const model_request> req;  // shared with the I/O side; sent again on a failover
  caf::response_promise promise;
  std::string affinity;      // key; empty: none
  int endpoint = -1;         // in flight there; -1 while waiting
  int failed_on = -1;        // after a failover: not there again
  bool probe = false;        // the half-open probe of its endpoint
  double tokens = -1;        // estimated cost for tpm (-1: not estimated yet)
  error_info first_error;    // what failed before the failover
};

struct pool_state {
  const char* name = "model_pool";
  std::vector<endpoint_state> endpoints;
  std::unordered_map<uint64_t, pool_call> calls;
  std::deque<uint64_t> waiting;  // ids; cancelled ones are skipped when reached
  affinity_table affinity;
  int64_t timer_at = 0;          // the earliest pump timer pending (0: none)
  size_t rotation = 0;           // equal loads take turns
};

using pool_actor = caf::stateful_actor<pool_state>;

std::string affinity_key(affinity_mode mode, const model_request& r) {
  switch (mode) {
    case affinity_mode::run: return r.run_id;
    case affinity_mode::agent: return r.run_id + "\n" + r.agent;
    case affinity_mode::none: break;
  }
  return {};
}

// Prompt tokens (about 4 characters each) plus the completion limit, if one is set:
// reserved before sending, settled with the real usage afterwards.
double estimate_cost(const model_request& r, const nlohmann::json& model_params) {
  auto n = estimate_prompt_tokens(r.messages);
  for (const auto* p : {&r.params, &model_params})
    if (p->is_object())
      for (const char* key : {"max_tokens", "max_completion_tokens"})
        if (p->contains(key) && (*p)[key].is_number_integer()) return static_cast<double>(n + (*p)[key].get<int64_t>());
  return static_cast<double>(n);
}

// A certificate that does not verify is one endpoint's misconfiguration: another may be fine.
bool fails_over(const std::string& kind) {
  return kind == "connection_refused" || kind == "connection_reset" || kind == "connection" ||
         kind == "server_error" || kind == "rate_limited" || kind == "tls" || kind == "tls_verify";
}

// Errors that say the endpoint is unwell (counted by its breaker).
bool endpoint_failure(const std::string& kind) {
  return kind == "connection_refused" || kind == "connection_reset" || kind == "connection" ||
         kind == "server_error" || kind == "timeout" || kind == "malformed_response" || kind == "tls" ||
         kind == "tls_verify";
}

nlohmann::json stats_of(const model_def& model, const pool_state& st, int64_t now) {
  auto eps = nlohmann::json::array();
  for (const auto& ep : st.endpoints)
    eps.push_back({{"base_url", ep.def.base_url},
                   {"requests", ep.sent},
                   {"in_flight", ep.in_flight},
                   {"succeeded", ep.succeeded},
                   {"failures", ep.failures},
                   {"failovers", ep.failovers},
                   {"rate_limited", ep.rate_limited},
                   {"paused_ms", std::max<int64_t>(0, ep.paused_until - now)},
                   {"tokens", ep.tokens_used},
                   {"breaker", to_string(ep.breaker.current())},
                   {"breaker_opened", ep.breaker.times_opened()},
                   {"probes", ep.breaker.probes()}});
  size_t waiting = 0;
  for (const auto& kv : st.calls) waiting += kv.second.endpoint < 0 ? 1 : 0;
  return {{"model", model.name}, {"affinity", to_string(model.affinity)}, {"waiting", waiting}, {"endpoints", eps}};
}

// The pool's logic; the behaviour below is a table of one-line handlers calling it.
class pool_logic {
 public:
  pool_logic(pool_actor* self, model_def model, boost::asio::io_context& io,
             const std::shared_ptr<std::atomic<int64_t>>& open_connections)
      : self_(self), spec_(std::make_shared<const model_def>(std::move(model))) {
    auto now = steady_ms();
    auto wake = wake_by_message(self);
    for (size_t i = 0; i < spec_->endpoints.size(); ++i) {
      const auto& def = spec_->endpoints[i];
      endpoint_state ep;
      ep.http = std::make_unique<http_endpoint>(spec_->for_endpoint(i), io, open_connections, wake);
      ep.def = def;
      ep.requests = token_bucket(def.rpm, now);
      ep.tokens = token_bucket(def.tpm, now);
      ep.breaker = circuit_breaker(spec_->breaker.failures, spec_->breaker.open_ms);
      st().endpoints.push_back(std::move(ep));
    }
  }

  caf::result<model_reply> request(model_request& req) {
    auto id = req.id;
    pool_call c;
    c.promise = self_->make_response_promise();
    c.affinity = affinity_key(spec_->affinity, req);
    c.req = std::make_shared<const model_request>(std::move(req));
    auto rp = c.promise;
    st().calls.emplace(id, std::move(c));
    st().waiting.push_back(id);
    pump();
    return rp;
  }

  // Endpoints have finished calls (their I/O woke the actor).
  void http_done() {
    auto& endpoints = st().endpoints;
    for (size_t i = 0; i < endpoints.size(); ++i)
      for (auto& reply : endpoints[i].http->take_finished()) settle(static_cast<int>(i), std::move(reply));
    pump();
  }

  void withdraw(uint64_t id) {
    auto it = st().calls.find(id);
    if (it == st().calls.end()) return;
    auto& c = it->second;
    if (c.endpoint >= 0) {
      auto& ep = st().endpoints[c.endpoint];
      ep.http->cancel(id);  // closes the HTTP request
      --ep.in_flight;
      if (c.probe) ep.breaker.probe_abandoned();
    }
    c.promise.deliver(withdrawn_reply(id));
    st().calls.erase(it);  // its id in `waiting`, if any, is skipped later
    pump();
  }

  void timer_fired(int64_t at) {
    if (st().timer_at == at) st().timer_at = 0;
    pump();
  }

  nlohmann::json stats() const { return stats_of(*spec_, self_->state, steady_ms()); }

  void stop(caf::exit_msg& msg) {
    for (auto& kv : st().calls) {
      model_reply r;
      r.id = kv.first;
      r.error = {"cancelled", "model pool " + spec_->name + " stopped"};
      kv.second.promise.deliver(std::move(r));
    }
    st().calls.clear();
    for (auto& ep : st().endpoints) ep.http->close();
    self_->quit(msg.reason);
  }

 private:
  // Where a call can go now: the endpoint, or how long until one may have room, or
  // neither (all saturated: a reply will pump), or none alive at all.
  struct choice {
    int endpoint = -1;
    int64_t wait_ms = 0;
    bool any_alive = false;
  };

  pool_state& st() { return self_->state; }

  void deliver(uint64_t id, model_reply reply) {
    auto it = st().calls.find(id);
    if (it == st().calls.end()) return;
    reply.id = id;
    it->second.promise.deliver(std::move(reply));
    st().calls.erase(it);
  }

  choice choose(pool_call& c, int64_t now) {
    auto& endpoints = st().endpoints;
    choice out;
    auto n = endpoints.size();
    int64_t soonest = std::numeric_limits<int64_t>::max();
    int best = -1, probe = -1;
    double best_load = 0;
    std::vector<bool> ready(n, false);
    for (size_t k = 0; k < n; ++k) {
      auto i = (st().rotation + k) % n;
      auto& ep = endpoints[i];
      if (static_cast<int>(i) == c.failed_on || !ep.breaker.allows(now)) continue;
      out.any_alive = true;
      if (ep.tokens.limited() && c.tokens < 0) c.tokens = estimate_cost(*c.req, spec_->params);
      auto wait = std::max({ep.paused_until - now, ep.requests.wait_ms(1, now),
                            ep.tokens.limited() ? ep.tokens.wait_ms(c.tokens, now) : int64_t{0}});
      if (wait > 0) {
        soonest = std::min(soonest, wait);
        continue;
      }
      if (ep.in_flight >= ep.def.max_in_flight) continue;
      ready[i] = true;
      // A half-open endpoint gets the call as its probe: recovery is noticed at once.
      if (ep.breaker.current() == circuit_breaker::state::half_open) probe = static_cast<int>(i);
      auto load = ep.in_flight / ep.def.weight;
      if (best < 0 || load < best_load) {
        best = static_cast<int>(i);
        best_load = load;
      }
    }
    int sticky = c.affinity.empty() ? -1 : st().affinity.find(c.affinity);
    if (probe >= 0) out.endpoint = probe;
    else if (sticky >= 0 && static_cast<size_t>(sticky) < n && ready[sticky]) out.endpoint = sticky;
    else out.endpoint = best;
    if (out.endpoint < 0 && soonest != std::numeric_limits<int64_t>::max()) out.wait_ms = soonest;
    return out;
  }

  void dispatch(pool_call& c, int i, int64_t now) {
    auto& ep = st().endpoints[i];
    ++ep.in_flight;
    ++ep.sent;
    ep.requests.take(1, now);
    if (ep.tokens.limited()) ep.tokens.take(c.tokens, now);
    c.probe = ep.breaker.sent();
    c.endpoint = i;
    if (!c.affinity.empty()) st().affinity.remember(c.affinity, i);
    st().rotation = static_cast<size_t>(i) + 1;
    ep.http->start(c.req);
  }

  void arm_timer(int64_t now, int64_t wait_ms) {
    auto at = now + wait_ms;
    if (st().timer_at != 0 && st().timer_at <= at) return;
    st().timer_at = at;
    self_->delayed_send(self_, std::chrono::milliseconds(wait_ms), pump_atom::value, at);
  }

  // Hands out waiting calls in order while an endpoint can take the head.
  void pump() {
    auto now = steady_ms();
    auto& waiting = st().waiting;
    while (!waiting.empty()) {
      auto id = waiting.front();
      auto it = st().calls.find(id);
      if (it == st().calls.end() || it->second.endpoint >= 0) {  // withdrawn meanwhile
        waiting.pop_front();
        continue;
      }
      auto& c = it->second;
      auto pick = choose(c, now);
      if (pick.endpoint >= 0) {
        waiting.pop_front();
        dispatch(c, pick.endpoint, now);
        continue;
      }
      if (pick.any_alive) {
        if (pick.wait_ms > 0) arm_timer(now, pick.wait_ms);
        return;  // saturated: a reply pumps again
      }
      waiting.pop_front();
      model_reply r;
      r.error = c.failed_on >= 0 ? c.first_error
                                 : error_info{"connection", "model " + spec_->name +
                                                                ": every endpoint is out of service (circuit breaker open)"};
      deliver(id, std::move(r));
    }
  }

  // After a failure on endpoint i: once, if another endpoint is still in service.
  bool try_elsewhere(uint64_t id, pool_call& c, int i, const model_reply& reply) {
    if (c.failed_on >= 0) return false;
    auto now = steady_ms();
    bool other = false;
    for (size_t k = 0; k < st().endpoints.size(); ++k)
      if (static_cast<int>(k) != i && st().endpoints[k].breaker.allows(now)) other = true;
    if (!other) return false;
    c.failed_on = i;
    c.first_error = reply.error;
    c.endpoint = -1;
    c.probe = false;
    ++st().endpoints[i].failovers;
    st().waiting.push_front(id);  // ahead of the queue: it has waited already
    return true;
  }

  // A finished call's reply: the endpoint's counters, limits and breaker learn of it,
  // then it goes to the asker, or to another endpoint once (see try_elsewhere).
  void settle(int i, model_reply reply) {
    auto it = st().calls.find(reply.id);
    if (it == st().calls.end() || it->second.endpoint != i) return;  // withdrawn meanwhile
    auto& c = it->second;
    auto& ep = st().endpoints[i];
    auto now = steady_ms();
    --ep.in_flight;
    const auto& kind = reply.error.kind;
    if (ep.tokens.limited()) {
      // Settle the reservation: the real usage, or nothing for a failed call.
      auto used = reply.ok ? static_cast<double>(saturating_add(reply.prompt_tokens, reply.completion_tokens)) : 0.0;
      ep.tokens.take(used - c.tokens, now);
    }
    if (reply.ok) {
      ++ep.succeeded;
      ep.tokens_used = saturating_add(ep.tokens_used, saturating_add(reply.prompt_tokens, reply.completion_tokens));
      ep.breaker.succeeded(c.probe);
    } else if (kind == "rate_limited") {
      ++ep.rate_limited;
      ep.paused_until = std::max(ep.paused_until, now + (reply.error.retry_after_ms >= 0 ? reply.error.retry_after_ms
                                                                                        : default_pause_ms));
      ep.breaker.succeeded(c.probe);  // it answered: alive
    } else if (endpoint_failure(kind)) {
      ++ep.failures;
      ep.breaker.failed(c.probe, now);
    } else if (c.probe) {
      ep.breaker.probe_abandoned();  // e.g. cancelled: says nothing about the endpoint
    }
    if (reply.ok || !fails_over(kind) || !try_elsewhere(reply.id, c, i, reply)) deliver(reply.id, std::move(reply));
  }

  pool_actor* self_;
  std::shared_ptr<const model_def> spec_;
};

caf::behavior model_pool(pool_actor* self, model_def model, boost::asio::io_context* io,
                         std::shared_ptr<std::atomic<int64_t>> open_connections) {
  auto logic = std::make_shared<pool_logic>(self, std::move(model), *io, open_connections);
  self->set_exit_handler([=](caf::exit_msg& msg) { logic->stop(msg); });
  return {
    [=](model_request& req) -> caf::result<model_reply> { return logic->request(req); },
    [=](http_done_atom) { logic->http_done(); },
    [=](cancel_req_atom, uint64_t id) { logic->withdraw(id); },
    [=](pump_atom, int64_t at) { logic->timer_fired(at); },
    [=](stats_atom) { return logic->stats(); },
  };
}

}  // namespace

caf::actor spawn_model_pool(caf::actor_system& sys, const model_def& model, boost::asio::io_context& io,
                            std::shared_ptr<std::atomic<int64_t>> open_connections) {
  return sys.spawn(model_pool, model, &io, std::move(open_connections));
}

}  // namespace cohort
