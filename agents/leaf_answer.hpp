#pragma once
// The answer of a leaf agent that waits without holding a thread (an external agent, a
// remote A2A agent): its stats (the time since it started), its "finished" event, and
// the answer to the task's promise, once.
#include <caf/response_promise.hpp>

#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/run_context.hpp"

namespace cohort {

void deliver_leaf_answer(const run_context& ctx, const task& t, const std::string& agent, int64_t start_us,
                         caf::response_promise& promise, result r);

}  // namespace cohort
