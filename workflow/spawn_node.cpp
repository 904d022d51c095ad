#include "workflow/spawn_node.hpp"

#include <caf/actor_system.hpp>

#include "agents/remote_agent.hpp"
#include "agents/spawn_agent.hpp"
#include "spec/scenario.hpp"

namespace cohort {

caf::actor spawn_node(caf::actor_system& sys, const run_context_ptr& ctx,
                      const std::shared_ptr<const workflow_node>& node) {
  if (node->kind != node_kind::agent) return spawn_supervisor(sys, ctx, node);
  const auto& agent = ctx->spec->agents.at(node->agent);
  // On a node with workers, the cluster decides where a placeable leaf runs.
  if (ctx->cluster && placeable(agent)) return spawn_remote_agent(sys, ctx, agent);
  return spawn_leaf_agent(sys, ctx, agent);
}

}  // namespace cohort
