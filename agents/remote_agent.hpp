#pragma once
// A leaf agent on a node with workers: the head's stand-in for a branch that the
// cluster places (docs/cluster.md). It asks the node's cluster membership to run its
// task, relays the answer, and runs the real agent here when the cluster says so.
#include <cstdint>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "messages/task.hpp"
#include "run/run_context.hpp"

namespace cohort {

// Stand-in -> cluster (same process): (place_atom, placement_request). The cluster
// answers the requester with a branch_answer for the request id, or with
// (run_here_atom, request id) when no worker could take it and the head should.
struct placement_request {
  uint64_t request_id = 0;
  run_context_ptr ctx;
  const agent_def* agent = nullptr;
  const placement_rule* where = nullptr;  // the agent's own rule, else its pattern's (never null)
  task work;
  caf::actor requester;
};

// Whether the cluster may place `agent`'s branches: a leaf that needs nothing of the
// head (no bus, barrier, desk, pool, MCP server or detached thread) and does not say
// "local" itself. (A pattern's "local" is seen per task, by the stand-in.)
bool placeable(const agent_def& agent);

// The stand-in; `spawn_local` makes the real agent when the branch runs here.
caf::actor spawn_remote_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent);

}  // namespace cohort

// Never leaves the process: it holds the run's context.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::placement_request)
