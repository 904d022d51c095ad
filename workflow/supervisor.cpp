// The supervisor engine: one loop for every pattern. It starts branches as the
// pattern releases them (never more than max_concurrency at once), gives each a
// deadline, turns timeouts and crashes into results, cancels what is still running
// when the pattern is done or the supervisor is cancelled, and sums the stats.
#include "workflow/engine.hpp"

namespace cohort::detail {
namespace {

int own_timeout(const run_context& ctx, const workflow_node& node) {
  if (node.timeout_ms > 0) return node.timeout_ms;
  if (node.kind == node_kind::agent) {
    auto it = ctx.spec->agents.find(node.agent);
    if (it != ctx.spec->agents.end()) return it->second.timeout_ms;
  }
  return 0;
}

}  // namespace

caf::result<result> engine::start(task incoming) {
  auto& st = self_->state;
  st.current = std::move(incoming);  // not copied: its bindings may be large
  const task& t = st.current;
  // Now, not when it ends: a nested one stopped after the run was over still has its row.
  if (ctx_->usage) ctx_->usage->add_pattern(t.path, to_string(node_->kind));
  st.start_us = now_us();
  st.stats.start_ms = now_ms();
  st.promise = self_->make_response_promise();
  auto cancelled_before = st.early_cancel.take_at_start();
  emit_pattern(*ctx_, t, event_kind::started, to_string(node_->kind));
  if (cancelled_before) {
    finish(failure(outcome::cancelled, "cancelled", *cancelled_before));
    return st.promise;
  }
  result error;
  // From the stored task: a pattern may point into its bindings (a fan-out's items).
  st.plan = make_pattern(*node_, st.current, *ctx_, error);
  if (!st.plan) {
    finish(std::move(error));
    return st.promise;
  }
  st.limit = node_->max_concurrency > 0 ? static_cast<size_t>(node_->max_concurrency) : default_limit();
  // Its own deadline, with high priority: on a loaded machine the parent's cancel
  // can wait behind thousands of results in this mailbox, while queued branches
  // keep starting.
  if (t.deadline_ms > 0)
    self_->delayed_send<caf::message_priority::high>(
        self_, std::chrono::milliseconds(std::max<int64_t>(0, t.deadline_ms - now_ms()) + 1),
        own_deadline_atom::value);
  pump();
  return st.promise;
}

// Past the task's deadline nothing new starts: what runs is stopped, what finished is kept.
void engine::deadline_passed() {
  auto& st = self_->state;
  if (st.done) return;
  auto r = failure(outcome::timed_out, "timeout",
                   st.current.path + ": not finished within its deadline (" + std::to_string(st.running.size()) +
                       " branch(es) still running were stopped)");
  finish(std::move(r));  // the output is what finished, taken when the last child has confirmed
}

void engine::cancel_all(const std::string& reason) {
  auto& st = self_->state;
  if (!st.early_cancel.started()) {
    st.early_cancel.idle_cancel(cancel{reason});
    return;
  }
  if (st.done) return;
  finish(failure(outcome::cancelled, "cancelled", reason));  // deliver() takes what finished
}

void engine::child_result(result& r) {
  const auto& sender = self_->current_sender();
  auto index = sender ? branch_of(sender->id()) : std::nullopt;
  if (index) on_result(*index, std::move(r), true);
}

// A child ended; if it never answered, it crashed (an exception, or killed).
void engine::child_down(const caf::down_msg& dm) {
  auto index = branch_of(dm.source.id());
  if (!index) return;
  auto& st = self_->state;
  auto& slot = st.running.at(*index);
  auto r = st.done ? failure(outcome::cancelled, "cancelled", slot.path + ": stopped")  // we stopped it
                   : failure(outcome::failed, "crashed",
                             slot.path + ": the agent ended without answering (" +
                                 self_->system().render(dm.reason) + ")");
  r.stats.count(r.status);
  on_result(*index, std::move(r));
}

// Times out every running branch whose deadline has passed; the queue re-arms its timer.
void engine::check_deadlines(int64_t armed_for) {
  auto& st = self_->state;
  auto next = deadlines_.wake(armed_for, [&](uint64_t id) {
    auto index = static_cast<size_t>(id);
    auto it = st.running.find(index);
    // Settled, waiting to retry, or an earlier attempt's deadline: nothing to do.
    if (it == st.running.end() || st.delivered || it->second.backing_off ||
        it->second.deadline > deadline_queue::clock::now())
      return;
    // Timed out is not abandoned: the child is told to stop (and close its requests).
    auto& slot = it->second;
    self_->send(slot.actor.child, cancel{"timed out after " + std::to_string(slot.timeout_ms) + " ms"});
    auto r = failure(outcome::timed_out, "timeout",
                     slot.path + ": no result within " + std::to_string(slot.timeout_ms) + " ms");
    r.stats.count(r.status);
    on_result(index, std::move(r));
  });
  if (!st.delivered) arm_wake(self_, next);
}

std::optional<size_t> engine::branch_of(caf::actor_id id) {
  auto& st = self_->state;
  auto it = st.by_actor.find(id);
  if (it == st.by_actor.end()) return std::nullopt;
  return it->second;
}

// Branches that talk to each other (bus, barrier) may wait for one another: holding
// some back could leave the others waiting for ever, so a coordinated run has no default.
size_t engine::default_limit() const {
  if (ctx_->default_max_concurrency == 0 || ctx_->spec->coordinated) return std::numeric_limits<size_t>::max();
  return ctx_->default_max_concurrency;
}

// Starts branches while the pattern has some and the limits allow. A tool agent is
// synchronous: it holds a scheduler thread while it runs, so more of them in flight
// than ctx.tool_slots adds no parallelism, only spawns; the pooled ones are reused.
void engine::pump() {
  auto& st = self_->state;
  if (!st.done && st.current.deadline_ms > 0 && now_ms() >= st.current.deadline_ms) {
    deadline_passed();
    return;
  }
  while (!st.done && st.running.size() < st.limit && !st.waiting.waiting()) {
    auto b = st.held ? std::exchange(st.held, std::nullopt) : st.plan->next();
    if (!b) break;
    if (actors_.waits_for_tool_slot(*b)) {
      st.held = std::move(b);
      break;
    }
    permit claim;
    if (auto needs = needs_of(*b); !needs.empty()) {
      auto ticket = ctx_->pools->next_ticket();
      if (!ctx_->pools->acquire(needs, priority_of(*b), caf::actor_cast<caf::actor>(self_), ticket)) {
        // Queued: nothing more starts here until it is granted (one request per supervisor).
        st.held = std::move(b);
        st.waiting = queued_request(ctx_->pools, ticket, std::move(needs));
        break;
      }
      claim = permit(ctx_->pools, std::move(needs));
    }
    dispatch(std::move(*b), std::move(claim));
  }
  if (!st.done && st.running.empty() && !st.held) finish(st.plan->idle());
}

// What the branch holds while it runs: its node's declared needs, and for an agent
// the run's agent limit and the agent's pool.
resource_needs engine::needs_of(const branch& b) const {
  if (!ctx_->pools) return {};
  auto needs = b.node->needs;
  if (b.node->kind == node_kind::agent) {
    const auto& implied = ctx_->spec->agents.at(b.node->agent).needs;
    needs.insert(needs.end(), implied.begin(), implied.end());
  }
  return needs;
}

void engine::dispatch(branch b, permit claim) {
  auto& st = self_->state;
  auto index = b.index;
  auto& slot = st.running[index];
  slot.claim = std::move(claim);
  if (b.node->retry.max_attempts > 1 || ctx_->cluster) slot.spec = b;
  start_attempt(index, slot, std::move(b));
}

// The held branch's queued request was granted.
void engine::permit_granted(uint64_t ticket) {
  auto& st = self_->state;
  if (!st.waiting.is(ticket)) return;  // withdrawn: already given back
  auto b = std::move(*st.held);
  st.held.reset();
  dispatch(std::move(b), st.waiting.claim());
  pump();
}

void engine::start_attempt(size_t index, branch_slot& slot, branch b) {
  auto& st = self_->state;
  slot.actor = actors_.take(b);
  if (slot.actor.spawned) ++st.stats.agents_started;
  auto timeout = child_timeout_ms(*ctx_, st.current, own_timeout(*ctx_, *b.node));
  task t;
  t.run_id = st.current.run_id;
  t.path = st.current.path + "/" + b.label;
  t.bindings = std::move(b.bindings);
  t.inherited = std::move(b.inherited);
  if (b.node->with.is_object())  // the node's own bindings ("with") come on top
    for (auto& [k, v] : b.node->with.items()) t.bindings[k] = v;
  t.deadline_ms = child_deadline_ms(st.current, timeout);
  t.attempt = slot.attempt;
  t.priority = priority_of(b);
  t.placement = b.node->placement ? &*b.node->placement : st.current.placement;
  t.keep_alive = slot.actor.reusable && slot.actor.reusable->type == agent_type::llm;
  // A supervisor child enforces the same deadline on its own children and answers
  // with their outcomes (counting each timed-out leaf once): we step in only if it
  // has not answered a little after.
  auto watch = t.deadline_ms + (b.node->kind == node_kind::agent ? 0 : supervisor_answer_margin_ms);
  slot.deadline = deadline_queue::clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, watch - now_ms()));
  // Due no earlier than this node's own deadline, which stops everything (and comes
  // first, with high priority): no timer of its own (a tool loop's turns and calls).
  if (st.current.deadline_ms <= 0 || watch < st.current.deadline_ms) arm_wake(self_, deadlines_.add(slot.deadline, index));
  st.by_actor.emplace(slot.actor.child.id(), index);
  slot.path = t.path;
  slot.timeout_ms = timeout;
  slot.backing_off = false;
  self_->send(slot.actor.child, std::move(t));
}

namespace {

caf::behavior supervisor(supervisor_actor* self, run_context_ptr ctx,
                         std::shared_ptr<const workflow_node> node) {
  auto eng = std::make_shared<engine>(self, std::move(ctx), std::move(node));
  self->set_down_handler([=](caf::down_msg& dm) { eng->child_down(dm); });
  return {
    [=](task& t) { return eng->start(std::move(t)); },
    [=](result& r) { eng->child_result(r); },
    [=](wake_atom, int64_t armed_for) { eng->check_deadlines(armed_for); },
    [=](const cancel& c) { eng->cancel_all(c.reason); },
    [=](deadline_atom) { eng->grace_expired(); },
    [=](own_deadline_atom) { eng->deadline_passed(); },
    [=](branch_retry_atom, uint64_t index) { eng->retry_now(static_cast<size_t>(index)); },
    [=](permit_atom, uint64_t ticket) { eng->permit_granted(ticket); },
  };
}

}  // namespace

}  // namespace cohort::detail

namespace cohort {

caf::actor spawn_supervisor(caf::actor_system& sys, const run_context_ptr& ctx,
                            const std::shared_ptr<const workflow_node>& node) {
  return sys.spawn(detail::supervisor, ctx, node);
}

}  // namespace cohort
