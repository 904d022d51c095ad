// The llm agent: renders its prompt, asks its model provider, answers with the text
// (or the parsed JSON when the agent asks for JSON output). It never does I/O itself.
#include <atomic>

#include <caf/all.hpp>

#include "actors/agent_coordination.hpp"
#include "actors/agent_support.hpp"
#include "actors/agents.hpp"
#include "actors/usage_ledger.hpp"
#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "messages/input_limits.hpp"
#include "messages/model_call.hpp"
#include "runtime/src/template.hpp"

namespace cohort {
namespace {

std::atomic<uint64_t> next_request_id{1};

struct llm_state {
  const char* name = "llm_agent";
  caf::response_promise promise;
  task current;
  int64_t start_us = 0;
  int64_t start_ms = 0;
  bool settled = true;  // no task in hand (a late cancel for an answered task is ignored)
  progress_ptr party;   // a coordinating agent: its name on the bus, its way to its sync point
};

using llm_actor = caf::stateful_actor<llm_state>;

// Models like to wrap JSON in ```json fences; accept that.
std::string strip_fences(const std::string& text) {
  auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos || text.compare(b, 3, "```") != 0) return text;
  auto nl = text.find('\n', b);
  auto end = text.rfind("```");
  if (nl == std::string::npos || end <= nl) return text;
  return text.substr(nl + 1, end - nl - 1);
}

result from_reply(const agent_def& def, const model_def& model, const model_reply& reply) {
  result r;
  if (!reply.ok) {
    r = failure(reply.error.kind == "timeout" ? outcome::timed_out : outcome::failed,
                reply.error.kind, reply.error.message);
    r.error.retry_after_ms = reply.error.retry_after_ms;
  } else if (def.json_output) {
    auto parsed = parse_untrusted_json_or_discarded(strip_fences(reply.text));
    if (parsed.is_discarded()) {
      auto excerpt = reply.text.substr(0, 200);
      r = failure(outcome::failed, "invalid_output",
                  "agent " + def.name + " asked for JSON but the model answered: " + excerpt);
    } else {
      r.output = std::move(parsed);
    }
  } else {
    r.output = reply.text;
  }
  r.stats.model_calls = 1;
  r.stats.prompt_tokens = reply.prompt_tokens;
  r.stats.completion_tokens = reply.completion_tokens;
  r.stats.cost = model.cost(reply.prompt_tokens, reply.completion_tokens);
  r.stats.usage_estimated = reply.usage_estimated ? 1 : 0;
  return r;
}

nlohmann::json build_messages(const agent_def& def, const template_scope& scope) {
  auto messages = nlohmann::json::array();
  if (!def.system.empty())
    messages.push_back({{"role", "system"}, {"content", render(def.system, scope)}});
  messages.push_back({{"role", "user"}, {"content", render(def.prompt, scope)}});
  return messages;
}

// Whoever sent the task watches its deadline and cancels us there, so the call needs a
// timer of its own only when `limit` (child_timeout_ms) ends before that deadline.
// Every CAF request timeout is an event for the clock thread (never withdrawn, even
// once answered): at thousands of calls a second, a cost worth saving.
caf::duration call_timeout(const task& t, int64_t limit) {
  bool watched = t.deadline_ms > 0 && now_ms() + limit >= t.deadline_ms;
  return watched ? caf::duration{caf::infinite} : caf::duration{std::chrono::milliseconds(limit)};
}

caf::behavior llm_agent(llm_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto model = ctx->models.at(def->model);
  // A streaming model's text pieces become token events, when someone listens.
  const model_def* model_spec = &ctx->spec->models.at(def->model);
  bool wants_deltas = ctx->all_events && model_spec->stream;
  // However this actor ends, an in-flight model call is withdrawn (closes the HTTP request).
  // Kept outside the state: attached functors run after the state is gone.
  auto in_flight = std::make_shared<uint64_t>(0);
  self->attach_functor([in_flight, model] {
    if (*in_flight != 0) caf::anon_send(model, cancel_req_atom::value, *in_flight);
  });
  auto settle = [=](result r) {
    auto& st = self->state;
    if (st.settled) return;
    st.settled = true;
    if (!r.ok()) r.error.message = st.current.path + ": " + r.error.message;
    if (!r.ok()) leave_if_pending(*ctx, *def, st.party, r.error.message);
    r.stats.start_ms = st.start_ms;
    r.stats.end_ms = now_ms();
    r.stats.agent_us = now_us() - st.start_us;
    r.stats.count(r.status);
    emit(*ctx, st.current, event_kind::finished, def->name, r.status, r.error.message,
         r.stats.agent_us);
    auto status = r.status;
    st.promise.deliver(std::move(r));
    // A response_promise holds its own actor: drop it, and end now that the task is answered.
    st.promise = caf::response_promise{};
    if ((def->pool == 0 && !st.current.keep_alive) || status == outcome::cancelled) {
      self->quit();
      return;
    }
    // A pooled instance goes back to its pool, a kept one to its parent's idle list:
    // reset it for the next task, and withdraw a call that it stopped waiting for.
    st.current.bindings = nullptr;
    st.current.inherited.reset();
    if (*in_flight != 0) caf::anon_send(model, cancel_req_atom::value, *in_flight);
    *in_flight = 0;
  };
  // The model's answer, then (for a coordinating agent) its messages and barrier.
  auto answered = [=](result r) {
    if (self->state.settled) return;
    if (!r.ok() || !def->coordination.enabled) return settle(std::move(r));
    auto output = r.output;
    auto limit = child_timeout_ms(*ctx, self->state.current, def->timeout_ms);
    after_acting(self, *ctx, *def, self->state.party, output, limit,
                 [=]() mutable { settle(std::move(r)); }, settle);
  };
  auto ask_model = [=] {
    auto& st = self->state;
    if (st.settled) return;
    const auto& t = st.current;
    model_request req;
    try {
      req.messages = build_messages(*def, make_scope(*ctx, t));
    } catch (const template_error& e) {
      settle(failure(outcome::failed, "invalid_input", "agent " + def->name + ": " + e.what()));
      return;
    }
    req.id = next_request_id++;
    req.path = t.path;
    req.params = def->params;
    req.attempt = t.attempt;
    req.priority = t.priority;
    req.run_id = ctx->run_id;
    req.agent = def->name;
    if (wants_deltas) req.on_delta = caf::actor_cast<caf::actor>(self);
    auto id = req.id;
    *in_flight = id;
    auto limit = child_timeout_ms(*ctx, t, def->timeout_ms);
    // A kept agent may be on its next task when an answer to a call it withdrew still
    // arrives: only the call in hand counts.
    self->request(model, call_timeout(t, limit), std::move(req))
      .then([=](model_reply& reply) {
              if (*in_flight != id) return;
              *in_flight = 0;
              auto r = from_reply(*def, *model_spec, reply);
              // Counted now: whatever becomes of the task, this call was made and paid for.
              if (ctx->usage) ctx->usage->add_call(def->name, self->state.current.path, r.stats);
              answered(std::move(r));
            },
            [=](caf::error& err) {
              if (*in_flight != id) return;
              if (err == caf::sec::request_timeout) {
                // Still in flight: leave in_flight set, so quitting withdraws the call.
                settle(failure(outcome::timed_out, "timeout",
                               "no answer from model " + def->model + " within " + std::to_string(limit) + " ms"));
                return;
              }
              *in_flight = 0;
              settle(failure(outcome::failed, "model_error",
                             "model " + def->model + ": " + self->system().render(err)));
            });
  };
  return {
    [=](const task& t) -> caf::result<result> {
      auto& st = self->state;
      st.current = t;
      st.settled = false;
      st.start_us = now_us();
      st.start_ms = now_ms();
      st.promise = self->make_response_promise();
      emit(*ctx, t, event_kind::started, def->name);
      if (!def->coordination.enabled) {
        ask_model();
        return st.promise;
      }
      st.party = std::make_shared<party_progress>();
      try {
        st.party->party = party_name(*ctx, *def, t);
      } catch (const template_error& e) {
        settle(failure(outcome::failed, "invalid_input", "agent " + def->name + ": coordination.as: " + e.what()));
        return st.promise;
      }
      before_acting(self, *ctx, *def, st.party, child_timeout_ms(*ctx, t, def->timeout_ms),
                    [=](nlohmann::json messages) {
                      auto& bindings = self->state.current.bindings;
                      if (!bindings.is_object()) bindings = nlohmann::json::object();
                      bindings["messages"] = std::move(messages);
                      ask_model();
                    },
                    settle);
      return st.promise;
    },
    [=](stream_delta_atom, uint64_t id, const std::string& text) {
      // Only for the call in hand: a withdrawn one may still have pieces on the way.
      if (self->state.settled || id != *in_flight) return;
      emit(*ctx, self->state.current, event_kind::token, def->name, outcome::succeeded, text);
    },
    [=](stream_reset_atom, uint64_t id) {
      if (self->state.settled || id != *in_flight) return;
      emit(*ctx, self->state.current, event_kind::token_reset, def->name, outcome::failed,
           "the streamed call failed part way: its pieces so far do not count");
    },
    [=](const cancel& c) {
      settle(failure(outcome::cancelled, "cancelled", c.reason));
    },
  };
}

}  // namespace

caf::actor spawn_llm_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                           const agent_def& agent) {
  return sys.spawn(llm_agent, ctx, &agent);
}

}  // namespace cohort
