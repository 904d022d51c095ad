// The llm agent: renders its prompt, asks its model provider, answers with the text
// (or the parsed JSON when the agent asks for JSON output). It never does I/O itself.
#include <atomic>
#include <optional>

#include <caf/all.hpp>

#include "agents/agent_coordination.hpp"
#include "agents/spawn_agent.hpp"
#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "messages/input_limits.hpp"
#include "messages/model_call.hpp"
#include "run/run_events.hpp"
#include "run/usage_ledger.hpp"
#include "spec/json_schema.hpp"
#include "spec/name_list.hpp"
#include "spec/output_schema.hpp"
#include "spec/template.hpp"

namespace cohort {
namespace {

// Models like to wrap JSON in ```json fences; accept that.
std::string strip_fences(const std::string& text) {
  auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos || text.compare(b, 3, "```") != 0) return text;
  auto nl = text.find('\n', b);
  auto end = text.rfind("```");
  if (nl == std::string::npos || end <= nl) return text;
  return text.substr(nl + 1, end - nl - 1);
}

// The names of an answer's calls, for a message.
std::string call_names(const nlohmann::json& calls) {
  std::string names;
  for (const auto& c : calls) {
    auto name = c.is_object() && c.contains("function") ? c["function"].value("name", "?") : "?";
    names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

result from_reply(const agent_def& def, const model_def& model, model_reply& reply) {
  result r;
  bool calls = reply.ok && reply.tool_calls.is_array() && !reply.tool_calls.empty();
  if (!reply.ok) {
    r = failure(reply.error.kind == "timeout" ? outcome::timed_out : outcome::failed,
                reply.error.kind, reply.error.message);
    r.error.retry_after_ms = reply.error.retry_after_ms;
  } else if (calls && def.tools.empty()) {
    // Not "malformed" (which would be retried and count against the endpoint): say so plainly.
    r = failure(outcome::failed, "unsupported_response",
                "the model answered with tool calls (" + call_names(reply.tool_calls) + ") but agent " + def.name +
                    " declares no \"tools\" to run them");
  } else if (calls) {
    // A turn of the agent's tool loop (workflow/patterns/tool_loop.cpp) reads the calls here.
    r.report = {{"content", reply.text.empty() ? nlohmann::json() : nlohmann::json(reply.text)},
                {"tool_calls", std::move(reply.tool_calls)}};
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

// `transcript`: false when the caller appends the tool loop's transcript itself.
nlohmann::json build_messages(const agent_def& def, const template_scope& scope, bool transcript = true) {
  auto messages = nlohmann::json::array();
  if (!def.system.empty())
    messages.push_back({{"role", "system"}, {"content", render(def.system, scope)}});
  // Not a template: a schema may hold anything, "{{" included.
  if (!def.schema_instruction.empty()) messages.push_back({{"role", "system"}, {"content", def.schema_instruction}});
  messages.push_back({{"role", "user"}, {"content", render(def.prompt, scope)}});
  // A later turn of a tool loop: the answers with calls so far, and their results.
  if (transcript && !def.tools.empty())
    if (const auto* turns = scope.find({"transcript"}); turns && turns->is_array())
      messages.insert(messages.end(), turns->begin(), turns->end());
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

// One task at a time: render the prompt, ask the model, settle once. A pooled or kept
// instance is reset after each task and serves the next.
class llm_agent_logic {
 public:
  llm_agent_logic(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def)
      : self_(self), ctx_(std::move(ctx)), def_(def), model_(ctx_->models.at(def->model)),
        model_spec_(&ctx_->spec->models.at(def->model)),
        wants_deltas_(ctx_->all_events && model_spec_->stream), in_flight_(std::make_shared<uint64_t>(0)) {
    // However this actor ends, an in-flight model call is withdrawn (closes the HTTP
    // request). A functor of its own: attached functors run after the behavior is gone.
    self_->attach_functor([in_flight = in_flight_, model = model_] {
      if (*in_flight != 0) caf::anon_send(model, cancel_req_atom::value, *in_flight);
    });
  }

  // The task is moved in: its bindings (a tool loop's transcript) are not copied.
  caf::result<result> start(task incoming) {
    current_ = std::move(incoming);
    const task& t = current_;
    settled_ = false;
    auto cancelled_before = early_cancel_.take_at_start();
    repairs_ = 0;
    repair_messages_ = nlohmann::json::array();
    spent_ = run_stats{};
    start_us_ = now_us();
    start_ms_ = now_ms();
    promise_ = self_->make_response_promise();
    emit(*ctx_, t, event_kind::started, def_->name);
    if (cancelled_before) {
      settle(failure(outcome::cancelled, "cancelled", *cancelled_before));
      return promise_;
    }
    if (!def_->coordination.enabled) {
      ask_model();
      return promise_;
    }
    party_ = std::make_shared<party_progress>();
    try {
      party_->party = party_name(*ctx_, *def_, t);
    } catch (const template_error& e) {
      settle(failure(outcome::failed, "invalid_input", "agent " + def_->name + ": coordination.as: " + e.what()));
      return promise_;
    }
    before_acting(self_, *ctx_, *def_, party_, child_timeout_ms(*ctx_, t, def_->timeout_ms),
                  [this](nlohmann::json messages) {
                    auto& bindings = current_.bindings;
                    if (!bindings.is_object()) bindings = nlohmann::json::object();
                    bindings["messages"] = std::move(messages);
                    ask_model();
                  },
                  [this](result r) { settle(std::move(r)); });
    return promise_;
  }

  // A piece of a streamed answer; only for the call in hand (a withdrawn one may still
  // have pieces on the way).
  void delta(uint64_t id, const std::string& text) {
    if (settled_ || id != *in_flight_) return;
    emit(*ctx_, current_, event_kind::token, def_->name, outcome::succeeded, text);
  }

  void delta_reset(uint64_t id) {
    if (settled_ || id != *in_flight_) return;
    emit(*ctx_, current_, event_kind::token_reset, def_->name, outcome::failed,
         "the streamed call failed part way: its pieces so far do not count");
  }

  void cancelled(const cancel& c) {
    if (settled_) early_cancel_.idle_cancel(c);
    settle(failure(outcome::cancelled, "cancelled", c.reason));
  }

 private:
  void ask_model() {
    if (settled_) return;
    model_request req;
    try {
      // Asked once (no repair can follow): the turn's transcript is moved into the
      // request, not copied; it grows with every turn of a tool loop.
      auto& bindings = current_.bindings;
      auto own = bindings.is_object() ? bindings.find("transcript") : bindings.end();
      bool take = !def_->output_check && !def_->tools.empty() && own != bindings.end() && own->is_array();
      req.messages = build_messages(*def_, make_scope(*ctx_, current_), !take);
      if (take)
        for (auto& turn : *own) req.messages.push_back(std::move(turn));
      req.messages.insert(req.messages.end(), repair_messages_.begin(), repair_messages_.end());
    } catch (const template_error& e) {
      settle(failure(outcome::failed, "invalid_input", "agent " + def_->name + ": " + e.what()));
      return;
    }
    req.id = next_model_request_id();
    req.path = current_.path;
    req.params = def_->params;
    req.attempt = current_.attempt;
    req.priority = current_.priority;
    req.run_id = ctx_->run_id;
    req.agent = def_->name;
    if (wants_deltas_) req.on_delta = caf::actor_cast<caf::actor>(self_);
    auto id = req.id;
    *in_flight_ = id;
    auto limit = child_timeout_ms(*ctx_, current_, def_->timeout_ms);
    // A kept agent may be on its next task when an answer to a call it withdrew still
    // arrives: only the call in hand counts.
    self_->request(model_, call_timeout(current_, limit), std::move(req))
        .then([this, id](model_reply& reply) { replied(id, reply); },
              [this, id, limit](caf::error& err) { call_failed(id, limit, err); });
  }

  void replied(uint64_t id, model_reply& reply) {
    if (*in_flight_ != id) return;
    *in_flight_ = 0;
    auto r = from_reply(*def_, *model_spec_, reply);
    // Counted now: whatever becomes of the task, this call was made and paid for.
    if (ctx_->usage) ctx_->usage->add_call(def_->name, current_.path, r.stats);
    if (asked_for_repair(reply, r)) return;
    answered(std::move(r));
  }

  // An answer that breaks the output_schema goes back to the model with its problems
  // while repairs are left (true: asked again); then its problems fail the task.
  bool asked_for_repair(const model_reply& reply, result& r) {
    if (!def_->output_check || !reply.ok || !r.report.is_null()) return false;  // a report: tool calls
    std::vector<std::string> problems;
    if (r.ok()) def_->output_check->check(r.output, problems);
    else if (r.error.kind == "invalid_output") problems.push_back("the answer is not JSON: " + reply.text.substr(0, 200));
    if (problems.empty()) return false;
    if (problems.size() > 20) problems.resize(20);
    if (repairs_ >= def_->max_repairs) {
      auto stats = r.stats;
      r = failure(outcome::failed, "invalid_output",
                  "agent " + def_->name + ": the answer does not match its output_schema" +
                      (repairs_ > 0 ? " after " + std::to_string(repairs_) + " repairs" : "") + ": " +
                      join(problems, "; "));
      r.stats = stats;
      return false;
    }
    ++repairs_;
    spent_.add(r.stats);
    repair_messages_.push_back({{"role", "assistant"}, {"content", reply.text}});
    repair_messages_.push_back({{"role", "user"}, {"content", repair_request(problems)}});
    ask_model();
    return true;
  }

  void call_failed(uint64_t id, int64_t limit, const caf::error& err) {
    if (*in_flight_ != id) return;
    if (err == caf::sec::request_timeout) {
      // Still in flight: leave in_flight set, so quitting withdraws the call.
      settle(failure(outcome::timed_out, "timeout",
                     "no answer from model " + def_->model + " within " + std::to_string(limit) + " ms"));
      return;
    }
    *in_flight_ = 0;
    settle(failure(outcome::failed, "model_error", "model " + def_->model + ": " + self_->system().render(err)));
  }

  // The model's answer, then (for a coordinating agent) its messages and barrier.
  void answered(result r) {
    if (settled_) return;
    if (!r.ok() || !def_->coordination.enabled) return settle(std::move(r));
    auto output = r.output;
    auto limit = child_timeout_ms(*ctx_, current_, def_->timeout_ms);
    after_acting(self_, *ctx_, *def_, party_, output, limit,
                 [this, r = std::move(r)]() mutable { settle(std::move(r)); },
                 [this](result failed) { settle(std::move(failed)); });
  }

  void settle(result r) {
    if (settled_) return;
    settled_ = true;
    if (!r.ok()) r.error.message = current_.path + ": " + r.error.message;
    if (!r.ok()) leave_if_pending(*ctx_, *def_, party_, r.error.message);
    r.stats.add(spent_);  // the answers sent back for repair
    r.stats.start_ms = start_ms_;
    r.stats.end_ms = now_ms();
    r.stats.agent_us = now_us() - start_us_;
    r.stats.count(r.status);
    emit(*ctx_, current_, event_kind::finished, def_->name, r.status, r.error.message, r.stats.agent_us);
    auto status = r.status;
    promise_.deliver(std::move(r));
    // A response_promise holds its own actor: drop it, and end now that the task is answered.
    promise_ = caf::response_promise{};
    if ((def_->pool == 0 && !current_.keep_alive) || status == outcome::cancelled) {
      quit_when_answered(self_, party_);
      return;
    }
    // A pooled instance goes back to its pool, a kept one to its parent's idle list:
    // reset it for the next task, and withdraw a call that it stopped waiting for.
    current_.bindings = nullptr;
    current_.inherited.reset();
    if (*in_flight_ != 0) caf::anon_send(model_, cancel_req_atom::value, *in_flight_);
    *in_flight_ = 0;
  }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  const agent_def* def_;
  caf::actor model_;
  const model_def* model_spec_;
  bool wants_deltas_;  // a streaming model's pieces become token events, when someone listens
  std::shared_ptr<uint64_t> in_flight_;  // the call in hand's id; 0: none
  caf::response_promise promise_;
  task current_;
  int64_t start_us_ = 0;
  int64_t start_ms_ = 0;
  bool settled_ = true;  // no task in hand (a late cancel for an answered task is ignored)
  early_cancel early_cancel_;  // a pooled agent's later idle cancels are late ones
  progress_ptr party_;   // a coordinating agent: its name on the bus, its way to its sync point
  int repairs_ = 0;                    // answers sent back for not matching output_schema
  nlohmann::json repair_messages_;     // those answers and what was wrong with them
  run_stats spent_;                    // the calls of those answers
};

caf::behavior llm_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto logic = std::make_shared<llm_agent_logic>(self, std::move(ctx), def);
  return {
    [=](task& t) { return logic->start(std::move(t)); },
    [=](stream_delta_atom, uint64_t id, const std::string& text) { logic->delta(id, text); },
    [=](stream_reset_atom, uint64_t id) { logic->delta_reset(id); },
    [=](const cancel& c) { logic->cancelled(c); },
  };
}

}  // namespace

caf::actor spawn_llm_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                           const agent_def& agent) {
  return sys.spawn(llm_agent, ctx, &agent);
}

}  // namespace cohort
