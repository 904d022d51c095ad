// The head's stand-in for a placed leaf branch. The cluster membership (node/cluster)
// owns where it runs and notices a lost worker: it answers node_lost then, and the
// supervisor's retry policy places the branch again. A cancel settles the branch at
// once (the worker is told, and its answer is dropped), as a local agent would.
#include "agents/remote_agent.hpp"

#include <atomic>

#include <caf/all.hpp>

#include "agents/spawn_agent.hpp"
#include "messages/cancel.hpp"
#include "messages/cluster.hpp"
#include "run/run_events.hpp"
#include "run/usage_ledger.hpp"

namespace cohort {
namespace {

uint64_t next_placement_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

class remote_agent_logic {
 public:
  remote_agent_logic(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def)
      : self_(self), ctx_(std::move(ctx)), def_(def) {}

  caf::result<result> start(const task& t) {
    promise_ = self_->make_response_promise();
    current_ = t;
    request_id_ = next_placement_id();
    here_ = false;
    if (auto reason = early_cancel_.take_at_start()) {
      settle(failure(outcome::cancelled, "cancelled", *reason));
      return promise_;
    }
    // The agent's own rule wins over the nearest pattern's.
    static const placement_rule anywhere;
    const placement_rule* where = def_->placement ? &*def_->placement : t.placement ? t.placement : &anywhere;
    if (where->kind == placement_rule::where::local)
      run_here(request_id_);
    else
      self_->send(ctx_->cluster, place_atom::value,
                  placement_request{request_id_, ctx_, def_, where, t, caf::actor_cast<caf::actor>(self_)});
    return promise_;
  }

  void answered(branch_answer& a) {
    if (a.request_id != request_id_ || !promise_.pending()) return;  // an answer for an earlier task
    // The run's usage by agent counts what the worker spent (its own ledger stays there).
    if (ctx_->usage && a.outcome.stats.model_calls > 0) {
      auto spent = a.outcome.stats;
      spent.succeeded = spent.failed = spent.timed_out = spent.cancelled = 0;
      ctx_->usage->add_call(def_->name, current_.path, spent);
    }
    settle(std::move(a.outcome));
  }

  // No worker could take it: the real agent runs here, made on first need.
  void run_here(uint64_t request_id) {
    if (request_id != request_id_ || !promise_.pending()) return;
    here_ = true;
    if (!local_) {
      local_ = spawn_leaf_agent(self_->system(), ctx_, *def_);
      self_->monitor(local_);
      self_->link_to(local_);  // stopped with us (a kept llm agent would stay otherwise)
    }
    auto id = request_id_;
    self_->request(local_, caf::infinite, current_)
        .then(
            [this, id](result& r) {
              if (id == request_id_) settle(std::move(r));
            },
            [this, id](caf::error& e) {
              if (id == request_id_)
                settle(failure(outcome::failed, "crashed", current_.path + ": " + self_->system().render(e)));
            });
  }

  void cancelled(const cancel& c) {
    if (!promise_.pending()) return early_cancel_.idle_cancel(c);
    if (here_ && local_)
      self_->send(local_, c);
    else
      self_->send(ctx_->cluster, branch_cancel{request_id_, c.reason});
    settle(failure(outcome::cancelled, "cancelled", c.reason));
  }

  // The local agent ended (an llm agent ends after each task unless kept).
  void local_down(const caf::down_msg& dm) {
    if (dm.source == local_.address()) local_ = caf::actor{};
  }

 private:
  void settle(result r) {
    if (!promise_.pending()) return;
    promise_.deliver(std::move(r));
    promise_ = caf::response_promise{};
  }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  const agent_def* def_;
  caf::response_promise promise_;
  task current_;
  uint64_t request_id_ = 0;
  bool here_ = false;  // this task runs on the head
  caf::actor local_;   // the real agent, when a task ran here
  early_cancel early_cancel_;
};

caf::behavior remote_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto logic = std::make_shared<remote_agent_logic>(self, std::move(ctx), def);
  self->set_down_handler([=](caf::down_msg& dm) { logic->local_down(dm); });
  return {
      [=](const task& t) { return logic->start(t); },
      [=](branch_answer& a) { logic->answered(a); },
      [=](run_here_atom, uint64_t id) { logic->run_here(id); },
      [=](const cancel& c) { logic->cancelled(c); },
  };
}

}  // namespace

bool placeable(const agent_def& agent) {
  if (agent.placement && agent.placement->kind == placement_rule::where::local) return false;
  if (agent.type != agent_type::llm && agent.type != agent_type::tool && agent.type != agent_type::a2a) return false;
  return !agent.coordination.enabled && !agent.detached && agent.pool == 0 && agent.mcp_server.empty();
}

caf::actor spawn_remote_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent) {
  return sys.spawn(remote_agent, ctx, &agent);
}

}  // namespace cohort
