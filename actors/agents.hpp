#pragma once
// Spawning the actors of a workflow: leaf agents (llm, tool) and supervisors.
#include <memory>

#include <caf/fwd.hpp>

#include "actors/run_context.hpp"

namespace cohort {

// The actor that answers tasks for `node`: a leaf agent or a supervisor.
caf::actor spawn_node(caf::actor_system& sys, const run_context_ptr& ctx,
                      const std::shared_ptr<const workflow_node>& node);

caf::actor spawn_llm_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                           const agent_def& agent);
caf::actor spawn_tool_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                            const agent_def& agent);
caf::actor spawn_supervisor(caf::actor_system& sys, const run_context_ptr& ctx,
                            const std::shared_ptr<const workflow_node>& node);

}  // namespace cohort
