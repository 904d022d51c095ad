#pragma once
// The actor a worker offers its head (docs/cluster.md): it runs the branches the head
// orders (a fresh leaf agent each), answers each exactly once, stops them on the head's
// cancel, at their deadline, or when the head is lost, and keeps what each run's agents
// share (loaded from the head's run_spec on first need) while the run is busy here.
#include <functional>
#include <map>
#include <string>

#include <caf/fwd.hpp>

#include "cohort/runtime.hpp"
#include "spec/scenario.hpp"

namespace cohort {

using head_lost_atom = caf::atom_constant<caf::atom("headlost")>;
using stop_work_atom = caf::atom_constant<caf::atom("stopwork")>;

struct worker_host_config {
  Runtime* runtime = nullptr;
  std::map<std::string, model_def> own_models;  // replace the scenario's definition of an alias
  int run_idle_ms = 30000;                      // a run with nothing running here is let go after this
  // Called (on an actor thread) when the head is lost, with why: the worker joins again.
  std::function<void(const std::string&)> on_head_lost;
};

// Messages: (joined_atom, head, worker id, heartbeat ms) from the joining code;
// branch_order, branch_cancel from the head; stop_work_atom to cancel everything.
caf::actor spawn_worker_host(caf::actor_system& sys, worker_host_config config);

}  // namespace cohort
