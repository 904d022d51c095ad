// The external agent: a program outside the run (the node's HTTP agent API) plays it.
// Its branch waits, without holding a thread, for the result the program hands in at
// the run's external desk, up to the agent's timeout; meanwhile the program talks to
// the run's agents through the bus and barrier as any agent does.
#include <caf/all.hpp>

#include "agents/leaf_answer.hpp"
#include "agents/spawn_agent.hpp"
#include "messages/cancel.hpp"
#include "run/external_desk.hpp"
#include "run/run_events.hpp"

namespace cohort {
namespace {

using external_timeout_atom = caf::atom_constant<caf::atom("exttimeout")>;

class external_agent_logic {
 public:
  external_agent_logic(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def)
      : self_(self), ctx_(std::move(ctx)), def_(def) {}

  caf::result<result> start(const task& t) {
    task_ = t;
    start_us_ = now_us();
    promise_ = self_->make_response_promise();
    emit(*ctx_, t, event_kind::started, def_->name);
    if (auto reason = early_cancel_.take_at_start()) {
      finish(failure(outcome::cancelled, "cancelled", *reason));
    } else if (!ctx_->externals) {
      finish(
          failure(outcome::failed, "no_desk", "external agent " + def_->name + ": this run takes no external results"));
    } else if (auto output = ctx_->externals->wait(def_->name, caf::actor_cast<caf::actor>(self_))) {
      handed_in(*output);
    } else {
      limit_ms_ = child_timeout_ms(*ctx_, t, def_->timeout_ms);
      self_->delayed_send(self_, std::chrono::milliseconds(limit_ms_), external_timeout_atom::value);
    }
    return promise_;
  }

  void handed_in(nlohmann::json output) {
    result r;
    r.output = std::move(output);
    finish(std::move(r));
  }

  void timed_out() {
    if (!promise_.pending()) return;
    // A result handed in at this very moment is already on its way here: it came in time
    // (its program was told it was accepted).
    if (ctx_->externals && ctx_->externals->stop_waiting(def_->name)) return;
    finish(failure(outcome::timed_out, "timeout",
                   task_.path + ": external agent " + def_->name + " handed in no result within " +
                       std::to_string(limit_ms_) + " ms"));
  }

  void cancelled(const cancel& c) {
    if (!promise_.pending()) return early_cancel_.idle_cancel(c);
    finish(failure(outcome::cancelled, "cancelled", c.reason));
  }

 private:
  void finish(result r) {
    if (!promise_.pending()) return;
    if (ctx_->externals) ctx_->externals->stop_waiting(def_->name);
    deliver_leaf_answer(*ctx_, task_, def_->name, start_us_, promise_, std::move(r));
    self_->quit();  // one branch, then gone
  }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  const agent_def* def_;
  task task_;
  caf::response_promise promise_;
  int64_t start_us_ = 0;
  int64_t limit_ms_ = 0;
  early_cancel early_cancel_;
};

caf::behavior external_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto logic = std::make_shared<external_agent_logic>(self, std::move(ctx), def);
  return {
      [=](const task& t) { return logic->start(t); },
      [=](external_result_atom, nlohmann::json& output) { logic->handed_in(std::move(output)); },
      [=](external_timeout_atom) { logic->timed_out(); },
      [=](const cancel& c) { logic->cancelled(c); },
  };
}

}  // namespace

caf::actor spawn_external_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent) {
  return sys.spawn(external_agent, ctx, &agent);
}

}  // namespace cohort
