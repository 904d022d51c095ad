#include "workflow/branch_actors.hpp"

#include <caf/all.hpp>

#include "run/resource_pools.hpp"
#include "workflow/spawn_node.hpp"

namespace cohort {

branch_actors::branch_actors(caf::event_based_actor* self, run_context_ptr ctx)
    : self_(self), ctx_(std::move(ctx)) {}

bool branch_actors::waits_for_tool_slot(const branch& b) const {
  return tool_of(b) && tools_running_ >= ctx_->tool_slots;
}

branch_actor branch_actors::take(const branch& b) {
  branch_actor a;
  a.reusable = reusable_of(b);
  a.tool = tool_of(b) != nullptr;
  if (a.tool) ++tools_running_;
  a.instance_pool = instance_pool_of(b);
  if (a.instance_pool) {
    a.child = ctx_->pools->borrow_instance(*a.instance_pool);
    if (a.child) self_->monitor(a.child);
  } else if (auto idle = a.reusable ? idle_.find(a.reusable) : idle_.end();
             idle != idle_.end() && !idle->second.empty()) {
    a.child = std::move(idle->second.back());
    idle->second.pop_back();
  }
  if (!a.child) {
    a.child = spawn_node(self_->system(), ctx_, b.node);
    self_->monitor(a.child);
    a.spawned = b.node->kind == node_kind::agent;
  }
  return a;
}

void branch_actors::give_back(branch_actor& a, bool answered, bool keep_idle) {
  if (a.tool) --tools_running_;
  if (a.reusable && !a.instance_pool && answered && keep_idle) {
    idle_[a.reusable].push_back(std::move(a.child));
  } else {
    self_->demonitor(a.child);
    // A pooled instance that answered is clean and goes back; one that was stopped
    // or crashed is dropped, and the pool starts a fresh one when next needed.
    if (a.instance_pool && answered) ctx_->pools->return_instance(*a.instance_pool, std::move(a.child));
    // A kept agent that is not reused stays alive until told to go.
    else if (a.reusable && answered) self_->send_exit(a.child, caf::exit_reason::user_shutdown);
  }
  a.child = caf::actor{};
}

void branch_actors::end_idle() {
  for (auto& [agent, idle] : idle_)
    for (auto& child : idle) self_->send_exit(child, caf::exit_reason::user_shutdown);
  idle_.clear();
}

// An agent that a finished branch hands on to the next one: a plain tool, or an llm
// agent outside any pool that takes no part in the run's bus (its task is its only state).
const agent_def* branch_actors::reusable_of(const branch& b) const {
  if (b.node->kind != node_kind::agent) return nullptr;
  const auto& agent = ctx_->spec->agents.at(b.node->agent);
  if (agent.type == agent_type::llm) return agent.pool == 0 && !agent.coordination.enabled ? &agent : nullptr;
  return tool_of(b);
}

const agent_def* branch_actors::tool_of(const branch& b) const {
  if (b.node->kind != node_kind::agent) return nullptr;
  const auto& agent = ctx_->spec->agents.at(b.node->agent);
  // Only a plain tool is CPU work that more actors cannot speed up; one that waits on
  // the bus or a barrier must not hold a tool slot (the parties it waits for need them).
  bool plain = agent.type == agent_type::tool && !agent.coordination.enabled && !agent.detached;
  return plain ? &agent : nullptr;
}

std::optional<size_t> branch_actors::instance_pool_of(const branch& b) const {
  if (b.node->kind != node_kind::agent || !ctx_->pools) return std::nullopt;
  return ctx_->spec->agents.at(b.node->agent).instance_pool;
}

}  // namespace cohort
