#pragma once
// Which actor serves a branch of a supervisor. Tool and llm agents answer one task at
// a time and keep no state between tasks, so a finished one serves the next branch of
// the same agent instead of a fresh spawn; an agent with a pool lends its instances;
// anything else is spawned. A plain tool agent is synchronous (it holds a scheduler
// thread while it runs): no more of them run at once than the run's tool slots, since
// more would add spawns, not parallelism.
#include <cstddef>
#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "run/run_context.hpp"
#include "workflow/pattern.hpp"

namespace cohort {

// The actor serving one branch, and where it goes when the branch is done with it.
struct branch_actor {
  caf::actor child;
  const agent_def* reusable = nullptr;  // handed on to the next branch of its agent
  bool tool = false;                    // holds a tool slot
  std::optional<size_t> instance_pool;  // borrowed from this agent pool
  bool spawned = false;                 // a new agent actor (not handed on, not borrowed)
};

class branch_actors {
 public:
  branch_actors(caf::event_based_actor* self, run_context_ptr ctx);

  // Whether `b` must wait for a tool slot before it can start.
  bool waits_for_tool_slot(const branch& b) const;

  // An actor for `b`, monitored by the supervisor (a handed-on one already is).
  branch_actor take(const branch& b);

  // The branch is done with its actor. One that answered goes back to serve again
  // (to the idle list, unless `keep_idle` is false, or to its pool); any other is let go.
  void give_back(branch_actor& a, bool answered, bool keep_idle);

  // The supervisor stopped waiting for its running children: their tool slots are free.
  void forget_running() { tools_running_ = 0; }

  // Ends the idle agents: the supervisor is done.
  void end_idle();

 private:
  const agent_def* reusable_of(const branch& b) const;
  const agent_def* tool_of(const branch& b) const;
  std::optional<size_t> instance_pool_of(const branch& b) const;

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  std::unordered_map<const agent_def*, std::vector<caf::actor>> idle_;
  size_t tools_running_ = 0;
};

}  // namespace cohort
