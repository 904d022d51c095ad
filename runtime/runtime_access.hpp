#pragma once
// What code inside cohort (coordination handles, tests, benches) may reach in a
// Runtime besides its public API: its actor system, its list of actors to stop when
// it shuts down, and the model provider its agents ask.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include <caf/fwd.hpp>

#include "cohort/runtime.hpp"

namespace cohort {

struct model_def;
struct run_context;
struct run_spec;

// A head's run as a worker holds it: the scenario loaded here, this runtime's tools,
// the run's models (its own sim models, in `owned`; this runtime's pool for the others,
// or the worker's own definition of an alias), and the head's event sink.
struct worker_run {
  std::shared_ptr<const run_context> ctx;
  std::vector<caf::actor> owned;  // end with the run
};

struct runtime_access {
  static caf::actor_system& system(Runtime& rt);
  // The runtime stops `actor` (exit reason user_shutdown) when it shuts down, if it
  // still runs then: a forgotten handle cannot keep the actor system from ending.
  static void adopt(Runtime& rt, const caf::actor& actor);
  // Expires when the runtime starts to shut down: handles check it before they touch
  // the actor system.
  static std::weak_ptr<const void> lifetime(Runtime& rt);
  // The actor an agent of model `m` asks (model_request -> model_reply): its pool, or
  // for a lone plain endpoint its HTTP client; made on first use, shared after.
  static caf::actor model_provider(Runtime& rt, const model_def& m);
  // Runtime::start, the run's id given: a node's runs go by the node's ids (their
  // events, errors and the X-Workflow-Id of their model calls say it).
  static Run start(Runtime& rt, std::string run_id, const Scenario& scenario, std::optional<nlohmann::json> input,
                   EventHandler on_event, ResultHandler on_result);
  // Runs started from now on place their leaf agents through `cluster` (node/cluster.hpp).
  static void set_cluster(Runtime& rt, caf::actor cluster);
  // Tools a worker offers: scenarios loaded from now on may name them.
  static void offer_cluster_tools(Runtime& rt, const std::vector<std::string>& names);
  // What a worker's agents of a head's run share (runtime/worker_context.cpp).
  // Its agents' events go to `event_relay` (the worker's host, which batches them to the head).
  static worker_run worker_context(Runtime& rt, const run_spec& spec, const std::map<std::string, model_def>& own_models,
                                   const caf::actor& event_relay);
  // The names of the tools registered here (built-in ones included).
  static std::vector<std::string> tool_names(Runtime& rt);
  // What a run's actors share (its bus, barrier, external desk); null for an empty handle.
  static std::shared_ptr<const run_context> context(const Run& run);
  // The result, moved out of the run, once it finished within `wait` (nothing before).
  // For a caller that is the run's only reader (Runtime::run, the CLI): a big run's
  // outputs are not copied at its end.
  static std::optional<RunResult> take_result(Run& run, std::chrono::milliseconds wait);
};

}  // namespace cohort
