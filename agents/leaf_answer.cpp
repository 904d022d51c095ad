#include "agents/leaf_answer.hpp"

#include "run/run_events.hpp"

namespace cohort {

void deliver_leaf_answer(const run_context& ctx, const task& t, const std::string& agent, int64_t start_us,
                         caf::response_promise& promise, result r) {
  if (!promise.pending()) return;
  r.stats.start_ms = now_ms();
  r.stats.end_ms = r.stats.start_ms;
  r.stats.agent_us = now_us() - start_us;
  r.stats.count(r.status);
  emit(ctx, t, event_kind::finished, agent, r.status, r.error.message, r.stats.agent_us);
  promise.deliver(std::move(r));
  promise = caf::response_promise{};  // a promise holds its actor: let both go
}

}  // namespace cohort
