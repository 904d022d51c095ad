#pragma once
// cohort::Runtime — the embedding API: load a scenario, register C++ tools, run it,
// watch its events, cancel it. CAF stays behind this header.
//
//   cohort::Runtime rt;
//   rt.register_tool("shout", [](const cohort::ToolCall& c) { return upper(c.input); });
//   auto result = rt.run(rt.load_file("examples/quickstart.json"));
//   std::cout << result.output.dump(2);
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cohort/options.hpp"
#include "cohort/tool.hpp"
#include "cohort/worker.hpp"

namespace cohort {

struct scenario;  // implementation detail

// A validated scenario, ready to run (cheap to copy).
class Scenario {
 public:
  const std::string& name() const;
  const nlohmann::json& input() const;
  // What must never be printed: the values of the environment variables its models
  // name in api_key_env (read now) and its configured Authorization header values.
  // `cohort run` masks them (and any "Bearer" token) in everything it writes, since a
  // server may echo a key in an error body; a program that prints results should too.
  std::vector<std::string> secrets() const;
  // Throws scenario_error when `input` would be refused by Runtime::start (too deep, or
  // not what the scenario's templates need): a run can be checked before it is queued.
  void check_input(const nlohmann::json& input) const;

 private:
  friend class Runtime;
  std::shared_ptr<const scenario> impl_;
};

// Something that happened in a run: a branch started or finished, or a streaming
// model sent a piece of an agent's answer.
struct Event {
  std::string path;      // node path, e.g. "workflow/step0/researcher[2]"
  std::string kind;      // started | finished | token (a model with "stream": true) |
                         // token_reset (the call streaming to this path failed part way: drop
                         // its pieces so far; a retry streams again from the start)
  std::string status;    // finished: succeeded | failed | timed_out | cancelled
  std::string agent;     // agent name, or the pattern (fan_out, pipeline)
  std::string message;   // error message for failures; token: the text piece (the pieces
                         // of one call, in order, add up to its answer)
  int64_t at_ms = 0;     // Unix epoch milliseconds
  int64_t duration_us = 0;
  bool leaf = false;     // an agent, not a supervisor
  nlohmann::json report; // a finished pattern's report (see RunResult::reports), else null

  // {"kind", "path", "agent", "at_ms", "leaf"} and, when set, "status", "duration_us",
  // "message" (token: "text"), "report": one line of `cohort run --events`.
  nlohmann::json to_json() const;
  // The inverse, for a client reading a node's event stream: fields missing or of the
  // wrong type are left empty (the document came over the network).
  static Event from_json(const nlohmann::json& j);
};

struct RunSummary {
  int64_t wall_ms = 0;
  int64_t agent_ms_total = 0;  // all agent times added: what running them in sequence takes
  double speedup = 0;          // agent_ms_total / wall_ms
  int64_t model_calls = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t tokens = 0;
  double cost = 0;                    // at each model's "price" (per million tokens)
  int64_t usage_estimated_calls = 0;  // calls whose server sent no usage: their tokens are estimates
  double success_rate = 0;     // leaf branches that succeeded, of all that ended
  int64_t retries = 0;         // failed attempts that were tried again
  int64_t agents_started = 0;  // agent actors started; pooled and reused instances serve many branches
};

struct BranchCounts {
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t timed_out = 0;
  int64_t cancelled = 0;
};

struct RunResult {
  std::string status;          // succeeded | failed | timed_out | cancelled
  nlohmann::json output;       // partial results when not succeeded
  std::string error_kind;
  std::string error;
  RunSummary summary;
  BranchCounts branches;
  // What each pattern reported, by node path: a dag's layers, critical path and
  // efficiency; a race's runners; a plan; a loop's iterations; a fallback's attempts.
  nlohmann::json reports = nlohmann::json::object();
  // Model usage by agent name and by pattern (a supervisor's node path: its subtree):
  // {"agents": {name: u}, "patterns": {path: u + "pattern"}}, each u being
  // {"model_calls", "prompt_tokens", "completion_tokens", "tokens", "cost", "usage_estimated_calls"}.
  nlohmann::json usage = nlohmann::json::object();

  bool ok() const { return status == "succeeded"; }
  // {"status", "output", "error"?, "summary": {...}, "branches": {...}, "usage", "reports"?}
  nlohmann::json to_json() const;
  // The inverse, for a client of a node (a run's document or its "result" event). Throws
  // std::invalid_argument when `j` is not an object with a string "status"; other fields
  // missing or of the wrong type are left at their defaults.
  static RunResult from_json(const nlohmann::json& j);
};

// A run in progress.
class Run {
 public:
  // Stops every branch (in-flight model calls are closed); the result keeps what
  // finished before, with status `cancelled`.
  void cancel(const std::string& reason = "cancelled by the caller");
  // The result, or nothing if the run is still going after `timeout`.
  std::optional<RunResult> wait_for(std::chrono::milliseconds timeout);
  // Waits for the result (the run's own timeout bounds this).
  RunResult wait();

  struct state;

 private:
  friend class Runtime;
  friend struct runtime_access;  // runtime/runtime_access.hpp
  std::shared_ptr<state> state_;
};

using EventHandler = std::function<void(const Event&)>;
// Told a run's result once, from a runtime thread, before wait() returns it.
using ResultHandler = std::function<void(const RunResult&)>;

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = RuntimeOptions::defaults());
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Tools must be registered before loading the scenarios that use them.
  // Built in: echo, join, json_merge, concat, partition, count_values, calculator.
  void register_tool(const std::string& name, Tool tool);
  // The same, with what a model calling it is told; throws std::invalid_argument when
  // `info.parameters` is not a JSON Schema.
  void register_tool(const std::string& name, Tool tool, ToolInfo info);

  // Load and validate; throws std::runtime_error naming the JSON path of each problem.
  Scenario load_file(const std::string& path) const;
  Scenario load(const nlohmann::json& doc, const std::string& origin = "<json>") const;

  // Starts a run; `input` replaces the scenario's input. `on_event` is called from
  // one runtime thread at a time, in the order events arrive.
  // `on_result` hears the result as soon as it is ready (a server that runs many
  // runs need not hold a thread in wait() for each).
  Run start(const Scenario& scenario, std::optional<nlohmann::json> input = std::nullopt,
            EventHandler on_event = nullptr, ResultHandler on_result = nullptr);
  RunResult run(const Scenario& scenario, std::optional<nlohmann::json> input = std::nullopt,
                EventHandler on_event = nullptr);

  // Actors alive in the runtime right now (returns to its baseline after each run).
  size_t live_actors() const;
  // Connected HTTP sockets to model servers: the idle keep-alive ones between runs.
  size_t open_connections() const;
  // Each model pool (an alias with several endpoints, rate limits or a breaker):
  // [{"model", "affinity", "waiting", "endpoints": [{"base_url", "requests",
  // "in_flight", "succeeded", "failures", "failovers", "rate_limited", "paused_ms",
  // "tokens", "breaker": closed|open|half_open, "breaker_opened", "probes"}]}].
  nlohmann::json model_pool_stats() const;

  const RuntimeOptions& options() const;

  // Joins a head node as a worker of its cluster (cohort/worker.hpp): the head places
  // leaf-agent branches here until the Worker is destroyed. Needs options().cluster.
  std::unique_ptr<Worker> join(WorkerOptions options);

 private:
  friend struct runtime_access;  // runtime/runtime_access.hpp
  // start(), with the run's id given ("" = the scenario's name and a number).
  Run start_as(std::string run_id, const Scenario& scenario, std::optional<nlohmann::json> input,
               EventHandler on_event, ResultHandler on_result);
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace cohort
