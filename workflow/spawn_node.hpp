#pragma once
// Spawning the actor that answers tasks for a workflow node: a leaf agent for an agent
// node, a supervisor running the node's pattern for the others.
#include <memory>

#include <caf/fwd.hpp>

#include "run/run_context.hpp"

namespace cohort {

caf::actor spawn_node(caf::actor_system& sys, const run_context_ptr& ctx,
                      const std::shared_ptr<const workflow_node>& node);

// The supervisor alone (supervisor.cpp).
caf::actor spawn_supervisor(caf::actor_system& sys, const run_context_ptr& ctx,
                            const std::shared_ptr<const workflow_node>& node);

}  // namespace cohort
