#pragma once
// The run driver: owns one run from the outside. It hands the root task to the
// workflow's root actor (retrying it as the root's retry policy says), enforces the
// run's deadline, forwards a cancel, and reports the one final result (through the
// event sink, so every event comes before it).
#include <functional>

#include <caf/fwd.hpp>

#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/run_context.hpp"

namespace cohort {

using result_handler = std::function<void(result, bool deadline_hit)>;

// Starts the run at once: spawns the workflow's root (again for each retry its
// retry policy allows). Send it `cancel` to stop the run.
caf::actor spawn_run_driver(caf::actor_system& sys, run_context_ptr ctx, node_ptr root, task root_task,
                            int64_t run_timeout_ms, caf::actor event_sink, result_handler done);

// An event sink that calls `on_event` for each event and `on_done` at the end
// of the run (the driver sends it the result last, after every event).
using event_callback = std::function<void(struct event&)>;  // the sink is the event's last reader
caf::actor spawn_event_sink(caf::actor_system& sys, event_callback on_event);

}  // namespace cohort
