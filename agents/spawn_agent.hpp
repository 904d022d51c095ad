#pragma once
// Spawning a leaf agent: the actor that answers tasks for one agent definition.
#include <caf/fwd.hpp>

#include "run/run_context.hpp"

namespace cohort {

// The agent of `agent`'s type (spawn_leaf_agent.cpp): one of those below.
caf::actor spawn_leaf_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent);

// An agent that asks a model (llm_agent.cpp).
caf::actor spawn_llm_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                           const agent_def& agent);
// An agent that calls a registered tool (tool_agent.cpp).
caf::actor spawn_tool_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                            const agent_def& agent);

// An agent a program outside the run plays, through the node (external_agent.cpp).
caf::actor spawn_external_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent);

// A remote agent spoken to with the A2A protocol (a2a_agent.cpp).
caf::actor spawn_a2a_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent);

}  // namespace cohort
