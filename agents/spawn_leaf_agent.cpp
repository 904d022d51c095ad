#include <caf/actor_system.hpp>

#include "agents/spawn_agent.hpp"

namespace cohort {

caf::actor spawn_leaf_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent) {
  switch (agent.type) {
    case agent_type::tool:
      return spawn_tool_agent(sys, ctx, agent);
    case agent_type::external:
      return spawn_external_agent(sys, ctx, agent);
    case agent_type::a2a:
      return spawn_a2a_agent(sys, ctx, agent);
    case agent_type::llm:
      break;
  }
  return spawn_llm_agent(sys, ctx, agent);
}

}  // namespace cohort
