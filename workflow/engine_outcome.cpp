// Settling branches: a result or a failure is retried, or goes to the pattern; once
// the pattern has decided, what still runs is cancelled and the result delivered.
#include "workflow/engine.hpp"

namespace cohort::detail {

// A failed attempt that its node's retry policy (and the run's retry budget) lets
// us try again: its child is let go and the branch waits out its backoff.
bool engine::retry_later(size_t index, branch_slot& slot, const result& r, bool child_answered) {
  if (!slot.spec || self_->state.done || r.status == outcome::cancelled) return false;
  const auto& policy = slot.spec->node->retry;
  // A branch whose worker died runs again as the same attempt: the same sim draw, the
  // same output as on one machine.
  bool lost = r.error.kind == "node_lost";
  if (lost ? !retries_lost(policy, slot.lost) : !retries(policy, slot.attempt, r.error)) return false;
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
  ++(lost ? slot.lost : slot.attempt);
  self_->delayed_send(self_, std::chrono::milliseconds(delay), branch_retry_atom::value, static_cast<uint64_t>(index));
  return true;
}

void engine::retry_now(size_t index) {
  auto& st = self_->state;
  auto it = st.running.find(index);
  if (st.done || it == st.running.end() || !it->second.backing_off) return;
  start_attempt(index, it->second, *it->second.spec);
}

// The child of a slot is done with: an agent that answered goes back to the idle
// pool; any other child is let go (and ends).
void engine::let_go(branch_slot& slot, bool child_answered) {
  auto& st = self_->state;
  st.by_actor.erase(slot.actor.child.id());
  actors_.give_back(slot.actor, child_answered, !st.done);
}

// Settled branches leave their deadline queued until it surfaces; in a long fan-out
// that would be one entry per branch ever started. Compacted when mostly stale, the
// queue stays proportional to what is in flight.
void engine::drop_stale_deadlines() {
  auto& st = self_->state;
  deadlines_.compact(st.running.size(), [&](uint64_t id) {
    auto it = st.running.find(static_cast<size_t>(id));
    return it != st.running.end() && !it->second.backing_off;
  });
}

// Forgets a branch; false if it had already settled.
bool engine::release(size_t index, bool child_answered) {
  auto& st = self_->state;
  auto it = st.running.find(index);
  if (it == st.running.end()) return false;
  if (!it->second.backing_off) let_go(it->second, child_answered);
  st.running.erase(it);
  return true;
}

void engine::on_result(size_t index, result r, bool child_answered) {
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
void engine::not_in_output(run_stats& stats) {
  stats.cancelled = saturating_add(stats.cancelled, stats.succeeded);
  stats.succeeded = 0;
}

// Branches that never started end cancelled, each with its event (and the held one
// gives back its place in the resource queue).
void engine::end_unstarted() {
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
void engine::finish(result r) {
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

void engine::grace_expired() {
  auto& st = self_->state;
  if (st.delivered) return;
  st.stats.count(outcome::cancelled, static_cast<int64_t>(st.running.size()));
  st.running.clear();
  st.by_actor.clear();
  actors_.forget_running();
  deliver();
}

void engine::deliver() {
  auto& st = self_->state;
  st.delivered = true;
  actors_.end_idle();
  auto r = std::move(st.final_result);
  if (!r.ok() && r.output.is_null() && st.plan) r.output = st.plan->partial();  // keep what finished
  r.stats = st.stats;
  r.stats.end_ms = now_ms();
  if (st.plan) r.report = st.plan->report();
  // The event takes the report to the run's result; the result itself keeps it only
  // where a parent reads it (a plan reads its DAG's): a tool loop's transcript is big.
  bool parent_reads = node_->kind == node_kind::dag;
  emit_pattern(*ctx_, st.current, event_kind::finished, to_string(node_->kind), r.status,
       r.error.message, now_us() - st.start_us, parent_reads ? r.report : std::move(r.report));
  st.promise.deliver(std::move(r));
  st.promise = caf::response_promise{};
  self_->quit();
}

}  // namespace cohort::detail
