// The supervisor engine: one loop for every pattern. It starts branches as the
// pattern releases them (never more than max_concurrency at once), gives each a
// deadline, turns timeouts and crashes into results, cancels what is still running
// when the pattern is done or the supervisor is cancelled, and sums the stats.
#include <optional>
#include <utility>
#include <unordered_map>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "run/deadline_queue.hpp"
#include "run/resource_pools.hpp"
#include "run/run_events.hpp"
#include "run/usage_ledger.hpp"
#include "workflow/branch_actors.hpp"
#include "workflow/pattern.hpp"
#include "workflow/retry.hpp"
#include "workflow/spawn_node.hpp"

namespace cohort {
namespace {

// A running branch: its actor, and how long it was given (the deadline is queued).
struct branch_slot {
  branch_actor actor;                   // none while backing off
  std::string path;
  int64_t timeout_ms = 0;
  deadline_queue::clock::time_point deadline;  // of this attempt: queued ones of earlier attempts are stale
  int attempt = 1;
  std::optional<branch> spec;           // kept to start it again, when the node has a retry policy
  bool backing_off = false;             // between two attempts: no child
  permit claim;                         // its resources (kept between attempts), given back when it ends
};

struct supervisor_state {
  const char* name = "supervisor";
  task current;
  caf::response_promise promise;
  std::unique_ptr<pattern> plan;
  std::unordered_map<size_t, branch_slot> running;       // by branch index
  std::unordered_map<caf::actor_id, size_t> by_actor;    // child actor -> branch index
  size_t limit = 0;             // max branches in flight
  std::optional<branch> held;   // released by the pattern, waiting for a tool slot or its resources
  queued_request waiting;       // the held branch's resource request, while queued
  run_stats stats;
  int64_t start_us = 0;
  bool done = false;            // outcome decided: nothing new starts
  bool delivered = false;
  result final_result;          // held while cancelled children report back
};

// How long after a shared deadline a supervisor child may take to report it.
constexpr int64_t supervisor_answer_margin_ms = 250;

// Branches never started get an event each up to this many, then one for the rest.
constexpr size_t max_unstarted_events = 1000;

// How long a decided supervisor waits for its cancelled children to confirm.
constexpr auto cancel_grace = std::chrono::milliseconds(1000);

using branch_retry_atom = caf::atom_constant<caf::atom("brretry")>;
using own_deadline_atom = caf::atom_constant<caf::atom("owndead")>;
using supervisor_actor = caf::stateful_actor<supervisor_state>;

int own_timeout(const run_context& ctx, const workflow_node& node) {
  if (node.timeout_ms > 0) return node.timeout_ms;
  if (node.kind == node_kind::agent) {
    auto it = ctx.spec->agents.find(node.agent);
    if (it != ctx.spec->agents.end()) return it->second.timeout_ms;
  }
  return 0;
}

// Children are sent their task with a plain send and answer with a `result` message,
// found by the sender's actor id. (CAF 0.17 keeps pending request handlers in a flat
// map searched linearly, which made a 100,000-branch fan-out quadratic.) Deadlines are
// one timer per supervisor over a heap, crashes come from monitors.
class engine {
 public:
  engine(supervisor_actor* self, run_context_ptr ctx, std::shared_ptr<const workflow_node> node)
      : self_(self), ctx_(std::move(ctx)), node_(std::move(node)), actors_(self, ctx_) {}

  caf::result<result> start(const task& t) {
    auto& st = self_->state;
    st.current = t;
    // Now, not when it ends: a nested one stopped after the run was over still has its row.
    if (ctx_->usage) ctx_->usage->add_pattern(t.path, to_string(node_->kind));
    st.start_us = now_us();
    st.stats.start_ms = now_ms();
    st.promise = self_->make_response_promise();
    emit_pattern(*ctx_, t, event_kind::started, to_string(node_->kind));
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
  void deadline_passed() {
    auto& st = self_->state;
    if (st.done) return;
    auto r = failure(outcome::timed_out, "timeout",
                     st.current.path + ": not finished within its deadline (" + std::to_string(st.running.size()) +
                         " branch(es) still running were stopped)");
    finish(std::move(r));  // the output is what finished, taken when the last child has confirmed
  }

  void cancel_all(const std::string& reason) {
    auto& st = self_->state;
    if (st.done) return;
    finish(failure(outcome::cancelled, "cancelled", reason));  // deliver() takes what finished
  }

  void child_result(result& r) {
    const auto& sender = self_->current_sender();
    auto index = sender ? branch_of(sender->id()) : std::nullopt;
    if (index) on_result(*index, std::move(r), true);
  }

  // A child ended; if it never answered, it crashed (an exception, or killed).
  void child_down(const caf::down_msg& dm) {
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
  void check_deadlines(int64_t armed_for) {
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

 private:
  std::optional<size_t> branch_of(caf::actor_id id) {
    auto& st = self_->state;
    auto it = st.by_actor.find(id);
    if (it == st.by_actor.end()) return std::nullopt;
    return it->second;
  }

  // Branches that talk to each other (bus, barrier) may wait for one another: holding
  // some back could leave the others waiting for ever, so a coordinated run has no default.
  size_t default_limit() const {
    if (ctx_->default_max_concurrency == 0 || ctx_->spec->coordinated) return std::numeric_limits<size_t>::max();
    return ctx_->default_max_concurrency;
  }


  // Starts branches while the pattern has some and the limits allow. A tool agent is
  // synchronous: it holds a scheduler thread while it runs, so more of them in flight
  // than ctx.tool_slots adds no parallelism, only spawns; the pooled ones are reused.
  void pump() {
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
  resource_needs needs_of(const branch& b) const {
    if (!ctx_->pools) return {};
    auto needs = b.node->needs;
    if (b.node->kind == node_kind::agent) {
      const auto& implied = ctx_->spec->agents.at(b.node->agent).needs;
      needs.insert(needs.end(), implied.begin(), implied.end());
    }
    return needs;
  }

  int priority_of(const branch& b) const { return b.node->priority.value_or(self_->state.current.priority); }

  void dispatch(branch b, permit claim) {
    auto& st = self_->state;
    auto index = b.index;
    auto& slot = st.running[index];
    slot.claim = std::move(claim);
    if (b.node->retry.max_attempts > 1) slot.spec = b;
    start_attempt(index, slot, std::move(b));
  }

 public:
  // The held branch's queued request was granted.
  void permit_granted(uint64_t ticket) {
    auto& st = self_->state;
    if (!st.waiting.is(ticket)) return;  // withdrawn: already given back
    auto b = std::move(*st.held);
    st.held.reset();
    dispatch(std::move(b), st.waiting.claim());
    pump();
  }

 private:

  void start_attempt(size_t index, branch_slot& slot, branch b) {
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
    t.keep_alive = slot.actor.reusable && slot.actor.reusable->type == agent_type::llm;
    // A supervisor child enforces the same deadline on its own children and answers
    // with their outcomes (counting each timed-out leaf once): we step in only if it
    // has not answered a little after.
    auto watch = t.deadline_ms + (b.node->kind == node_kind::agent ? 0 : supervisor_answer_margin_ms);
    slot.deadline = deadline_queue::clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, watch - now_ms()));
    arm_wake(self_, deadlines_.add(slot.deadline, index));
    st.by_actor.emplace(slot.actor.child.id(), index);
    slot.path = t.path;
    slot.timeout_ms = timeout;
    slot.backing_off = false;
    self_->send(slot.actor.child, std::move(t));
  }

  // A failed attempt that its node's retry policy (and the run's retry budget) lets
  // us try again: its child is let go and the branch waits out its backoff.
  bool retry_later(size_t index, branch_slot& slot, const result& r, bool child_answered) {
    if (!slot.spec || self_->state.done || r.status == outcome::cancelled) return false;
    const auto& policy = slot.spec->node->retry;
    if (!retries(policy, slot.attempt, r.error)) return false;
    auto& st = self_->state;
    auto delay = backoff_ms(policy, slot.attempt, r.error);
    // A retry that could not start before this supervisor's deadline would turn the
    // attempt's failure into a bare timeout: the branch ends with it instead.
    if (st.current.deadline_ms > 0 && now_ms() + delay >= st.current.deadline_ms) return false;
    if (!ctx_->retry_budget || ctx_->retry_budget->fetch_sub(1) <= 0) return false;
    // The attempt's work counts; its end state does not: the branch is not over.
    auto spent = r.stats;
    spent.succeeded = spent.failed = spent.timed_out = spent.cancelled = 0;
    spent.retries += 1;
    st.stats.add(spent);
    let_go(slot, child_answered);
    slot.backing_off = true;
    ++slot.attempt;
    self_->delayed_send(self_, std::chrono::milliseconds(delay), branch_retry_atom::value, static_cast<uint64_t>(index));
    return true;
  }

 public:
  void retry_now(size_t index) {
    auto& st = self_->state;
    auto it = st.running.find(index);
    if (st.done || it == st.running.end() || !it->second.backing_off) return;
    start_attempt(index, it->second, *it->second.spec);
  }

 private:
  // The child of a slot is done with: an agent that answered goes back to the idle
  // pool; any other child is let go (and ends).
  void let_go(branch_slot& slot, bool child_answered) {
    auto& st = self_->state;
    st.by_actor.erase(slot.actor.child.id());
    actors_.give_back(slot.actor, child_answered, !st.done);
  }

  // Settled branches leave their deadline queued until it surfaces; in a long fan-out
  // that would be one entry per branch ever started. Compacted when mostly stale, the
  // queue stays proportional to what is in flight.
  void drop_stale_deadlines() {
    auto& st = self_->state;
    deadlines_.compact(st.running.size(), [&](uint64_t id) {
      auto it = st.running.find(static_cast<size_t>(id));
      return it != st.running.end() && !it->second.backing_off;
    });
  }

  // Forgets a branch; false if it had already settled.
  bool release(size_t index, bool child_answered) {
    auto& st = self_->state;
    auto it = st.running.find(index);
    if (it == st.running.end()) return false;
    if (!it->second.backing_off) let_go(it->second, child_answered);
    st.running.erase(it);
    return true;
  }

  void on_result(size_t index, result r, bool child_answered = false) {
    auto& st = self_->state;
    if (st.delivered) return;
    auto it = st.running.find(index);
    if (it == st.running.end() || it->second.backing_off) return;  // late or duplicate: ignore
    // A child that answered "cancelled" has ended: it cannot serve again.
    child_answered = child_answered && r.status != outcome::cancelled;
    if (!r.ok() && retry_later(index, it->second, r, child_answered)) return;
    r.attempts = it->second.attempt;
    release(index, child_answered);
    drop_stale_deadlines();
    if (st.done) {  // a cancelled child confirming
      // Only a failed outcome without an output of its own reports partial().
      bool partial_reported = !st.final_result.ok() && st.final_result.output.is_null();
      if (!(r.ok() && partial_reported && st.plan && st.plan->keep_late(index, r))) not_in_output(r.stats);
      st.stats.add(r.stats);
      if (st.running.empty()) deliver();
      return;
    }
    st.stats.add(r.stats);
    if (auto final_result = st.plan->settle(index, std::move(r)))
      finish(std::move(*final_result));
    else
      pump();
  }

  // A result the outcome no longer takes: what it counted as succeeded is not in the
  // output, so it counts as cancelled (counted means present).
  static void not_in_output(run_stats& stats) {
    stats.cancelled = saturating_add(stats.cancelled, stats.succeeded);
    stats.succeeded = 0;
  }

  // Branches that never started end cancelled, each with its event (and the held one
  // gives back its place in the resource queue).
  void end_unstarted() {
    auto& st = self_->state;
    st.waiting.cancel();
    std::vector<std::string> labels;
    if (st.held) labels.push_back(st.held->label);
    st.held.reset();
    if (st.plan) {
      auto rest = st.plan->unstarted();
      labels.insert(labels.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    }
    st.stats.count(outcome::cancelled, static_cast<int64_t>(labels.size()));
    if (!ctx_->all_events) return;
    task never;
    never.run_id = st.current.run_id;
    const size_t each = std::min(labels.size(), max_unstarted_events);
    for (size_t i = 0; i < each; ++i) {
      never.path = st.current.path + "/" + labels[i];
      emit_pattern(*ctx_, never, event_kind::finished, labels[i], outcome::cancelled,
                   "not started: " + st.current.path + " was decided");
    }
    if (labels.size() > each) {  // the rest in one event: a million of them would delay the result by seconds
      never.path = st.current.path + "/*";
      emit_pattern(*ctx_, never, event_kind::finished, "*", outcome::cancelled,
                   std::to_string(labels.size() - each) + " more branches not started: " + st.current.path +
                       " was decided");
    }
  }

  // The outcome is decided: stop whatever still runs, and deliver once the cancelled
  // children have confirmed (so their branches are counted), or after a grace period.
  void finish(result r) {
    auto& st = self_->state;
    st.done = true;
    st.final_result = std::move(r);
    end_unstarted();
    // Branches waiting to be tried again have no child to stop: they end here.
    for (auto it = st.running.begin(); it != st.running.end();) {
      if (!it->second.backing_off) {
        ++it;
        continue;
      }
      st.stats.count(outcome::cancelled);
      it = st.running.erase(it);
    }
    if (st.running.empty()) {
      deliver();
      return;
    }
    for (auto& kv : st.running) self_->send(kv.second.actor.child, cancel{"outcome decided at " + st.current.path});
    self_->delayed_send(self_, cancel_grace, deadline_atom::value);
  }

 public:
  void grace_expired() {
    auto& st = self_->state;
    if (st.delivered) return;
    st.stats.count(outcome::cancelled, static_cast<int64_t>(st.running.size()));
    st.running.clear();
    st.by_actor.clear();
    actors_.forget_running();
    deliver();
  }

 private:
  void deliver() {
    auto& st = self_->state;
    st.delivered = true;
    actors_.end_idle();
    auto r = std::move(st.final_result);
    if (!r.ok() && r.output.is_null() && st.plan) r.output = st.plan->partial();  // keep what finished
    r.stats = st.stats;
    r.stats.end_ms = now_ms();
    if (st.plan) r.report = st.plan->report();
    emit_pattern(*ctx_, st.current, event_kind::finished, to_string(node_->kind), r.status,
         r.error.message, now_us() - st.start_us, r.report);
    st.promise.deliver(std::move(r));
    st.promise = caf::response_promise{};
    self_->quit();
  }

  supervisor_actor* self_;
  run_context_ptr ctx_;
  std::shared_ptr<const workflow_node> node_;
  branch_actors actors_;
  deadline_queue deadlines_;  // of the running branches, by index
};

caf::behavior supervisor(supervisor_actor* self, run_context_ptr ctx,
                         std::shared_ptr<const workflow_node> node) {
  auto eng = std::make_shared<engine>(self, std::move(ctx), std::move(node));
  self->set_down_handler([=](caf::down_msg& dm) { eng->child_down(dm); });
  return {
    [=](const task& t) { return eng->start(t); },
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

caf::actor spawn_supervisor(caf::actor_system& sys, const run_context_ptr& ctx,
                            const std::shared_ptr<const workflow_node>& node) {
  return sys.spawn(supervisor, ctx, node);
}

}  // namespace cohort
