#pragma once
// The supervisor engine's state and class, shared by its two files: supervisor.cpp
// (starting branches, deadlines, crashes, cancellation, the actor's handlers) and
// engine_outcome.cpp (settling branches: retries, results, the pattern's outcome,
// delivery). Internal to workflow/.
#include <chrono>
#include <memory>
#include <string>
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

namespace cohort::detail {

// A running branch: its actor, and how long it was given (the deadline is queued).
struct branch_slot {
  branch_actor actor;                   // none while backing off
  std::string path;
  int64_t timeout_ms = 0;
  deadline_queue::clock::time_point deadline;  // of this attempt: queued ones of earlier attempts are stale
  int attempt = 1;
  int lost = 0;                         // tries whose worker was lost: again with the same attempt number
  std::optional<branch> spec;           // kept to start it again, when it may be retried
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
  cohort::early_cancel early_cancel;  // a cancel that overtook the task (cancels go first)
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

// Children are sent their task with a plain send and answer with a `result` message,
// found by the sender's actor id. (CAF 0.17 keeps pending request handlers in a flat
// map searched linearly, which made a 100,000-branch fan-out quadratic.) Deadlines are
// one timer per supervisor over a heap, crashes come from monitors.
class engine {
 public:
  engine(supervisor_actor* self, run_context_ptr ctx, std::shared_ptr<const workflow_node> node)
      : self_(self), ctx_(std::move(ctx)), node_(std::move(node)), actors_(self, ctx_) {}

  caf::result<result> start(task incoming);

  // Past the task's deadline nothing new starts: what runs is stopped, what finished is kept.
  void deadline_passed();

  void cancel_all(const std::string& reason);

  void child_result(result& r);

  // A child ended; if it never answered, it crashed (an exception, or killed).
  void child_down(const caf::down_msg& dm);

  // Times out every running branch whose deadline has passed; the queue re-arms its timer.
  void check_deadlines(int64_t armed_for);

 private:
  std::optional<size_t> branch_of(caf::actor_id id);

  // Branches that talk to each other (bus, barrier) may wait for one another: holding
  // some back could leave the others waiting for ever, so a coordinated run has no default.
  size_t default_limit() const;


  // Starts branches while the pattern has some and the limits allow. A tool agent is
  // synchronous: it holds a scheduler thread while it runs, so more of them in flight
  // than ctx.tool_slots adds no parallelism, only spawns; the pooled ones are reused.
  void pump();

  // What the branch holds while it runs: its node's declared needs, and for an agent
  // the run's agent limit and the agent's pool.
  resource_needs needs_of(const branch& b) const;

  int priority_of(const branch& b) const { return b.node->priority.value_or(self_->state.current.priority); }

  void dispatch(branch b, permit claim);

 public:
  // The held branch's queued request was granted.
  void permit_granted(uint64_t ticket);

 private:

  void start_attempt(size_t index, branch_slot& slot, branch b);

  // A failed attempt that its node's retry policy (and the run's retry budget) lets
  // us try again: its child is let go and the branch waits out its backoff.
  bool retry_later(size_t index, branch_slot& slot, const result& r, bool child_answered);

 public:
  void retry_now(size_t index);

 private:
  // The child of a slot is done with: an agent that answered goes back to the idle
  // pool; any other child is let go (and ends).
  void let_go(branch_slot& slot, bool child_answered);

  // Settled branches leave their deadline queued until it surfaces; in a long fan-out
  // that would be one entry per branch ever started. Compacted when mostly stale, the
  // queue stays proportional to what is in flight.
  void drop_stale_deadlines();

  // Forgets a branch; false if it had already settled.
  bool release(size_t index, bool child_answered);

  void on_result(size_t index, result r, bool child_answered = false);

  // A result the outcome no longer takes: what it counted as succeeded is not in the
  // output, so it counts as cancelled (counted means present).
  static void not_in_output(run_stats& stats);

  // Branches that never started end cancelled, each with its event (and the held one
  // gives back its place in the resource queue).
  void end_unstarted();

  // The outcome is decided: stop whatever still runs, and deliver once the cancelled
  // children have confirmed (so their branches are counted), or after a grace period.
  void finish(result r);

 public:
  void grace_expired();

 private:
  void deliver();

  supervisor_actor* self_;
  run_context_ptr ctx_;
  std::shared_ptr<const workflow_node> node_;
  branch_actors actors_;
  deadline_queue deadlines_;  // of the running branches, by index
};

}  // namespace cohort::detail
