#pragma once
// The node's runs: submitting (validated, bounded by max_runs, idempotent by key),
// watching (history then live events, resumable by sequence number), cancelling,
// listing and forgetting. Every change goes to the store; finished runs are answered
// from memory (their result) and the store (their events).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "node/api_error.hpp"
#include "node/http_server.hpp"
#include "node/loaded_scenarios.hpp"
#include "node/node_metrics.hpp"
#include "node/node_options.hpp"
#include "node/run_store.hpp"
#include "node/scenario_catalog.hpp"

namespace cohort {
struct run_context;
}

namespace cohort::node {

struct submission {
  nlohmann::json scenario;      // the document, or null with a scenario_name
  std::string scenario_name;
  std::optional<nlohmann::json> input;
  std::string idempotency_key;
  int64_t wait_ms = 0;  // > 0: the answer waits up to this long for the run to end
};

class run_registry {
 public:
  run_registry(Runtime& runtime, run_store& store, const node_options& options, node_metrics& metrics);
  ~run_registry();  // cancels what still runs and waits for it (bounded)

  // Retention (node_options keep_runs, keep_days): ended runs beyond the newest
  // keep_runs, or older than keep_days, are forgotten, here and in the store. Done at
  // start and every prune_interval_ms by the upkeep thread; the number pruned.
  size_t prune();

  // The run's document and whether it is new (false: the idempotency key's earlier run).
  // Beyond max_runs running, a run waits (status "queued", its "queue_position" in the
  // document) when the queue has room, and starts when a slot frees, first come first
  // served. Throws api_error: 400 (bad scenario, every problem with its path; bad input),
  // 404 (unknown scenario name), 429 (max_runs running and the queue full), 503 (draining).
  std::pair<nlohmann::json, bool> submit(const submission& s);
  // As submit, but no thread waits for the disk: `ack` gets the document and whether the
  // run is new once it is on disk (on the store's thread, or at once). Throws as submit
  // does, before anything is stored.
  using acknowledge = std::function<void(nlohmann::json doc, bool created)>;
  void submit_async(const submission& s, acknowledge ack);

  nlohmann::json get(const std::string& id);
  void check_known(const std::string& id);  // throws api_error 404 for a run it does not know
  // Newest first; `after`: the id the previous page ended with.
  nlohmann::json list(const std::string& status, size_t limit, const std::string& after);
  nlohmann::json cancel(const std::string& id);
  // What a running run's agents share (its bus, barrier, external desk), for the agent
  // API. Throws api_error: 404 unknown, 409 not running (queued or ended).
  std::shared_ptr<const run_context> live_context(const std::string& id);
  void forget(const std::string& id);
  // Calls `answer` once with the run's document: when the run has ended (with its whole
  // result), or after `wait_ms` (no_deadline: never) with the document as it is then,
  // whichever comes first. `answer` is called under the registry's lock (it must only hand
  // the document on). Throws api_error 404.
  // Returns the wait's number for withdraw_wait (0: answered at once).
  static constexpr int64_t no_deadline = -1;
  uint64_t await_end(const std::string& id, int64_t wait_ms, std::function<void(nlohmann::json)> answer);
  // The client went away: its wait ends unanswered (nothing is kept for it).
  void withdraw_wait(const std::string& id, uint64_t serial);
  // The events after `after_seq` to `w`, then the live ones; ends the stream after the result.
  void watch(const std::string& id, int64_t after_seq, const std::shared_ptr<event_watcher>& w);

  // Scenarios a client may name.
  scenario_catalog& scenarios() { return scenarios_; }

  // No new runs; running ones are cancelled after `grace_ms`; returns when all ended.
  void drain(int64_t grace_ms);
  size_t running() const;

 private:
  using wait_deadlines = std::multimap<std::chrono::steady_clock::time_point, std::pair<std::string, uint64_t>>;
  struct end_waiter {
    uint64_t serial;
    std::function<void(nlohmann::json)> answer;
    wait_deadlines::iterator deadline;
  };
  struct record {
    stored_run stored;
    std::optional<nlohmann::json> result;          // a recent result (recent_); older ones are on disk
    std::optional<Scenario> waiting_scenario;      // while queued: what to start
    std::optional<nlohmann::json> waiting_input;
    std::optional<Run> run;                        // while running
    std::optional<std::string> cancel_asked;       // a cancel that came while it was being started
    std::vector<nlohmann::json> events;            // the log so far, while running and while its result is recent
    std::vector<std::weak_ptr<event_watcher>> watchers;
    std::map<std::string, std::string> models;     // agent -> model, for the metrics
    std::vector<end_waiter> end_waiters;           // clients waiting for its end (await_end)
  };

  record& find(const std::string& id);  // under mutex_; throws api_error 404
  // The run's document: with its whole result when `result` is given, else its brief.
  nlohmann::json document(const record& r, const nlohmann::json* result = nullptr) const;
  // Under mutex_. A run being started has no handle yet: the cancel is kept for launch().
  static void cancel_running(record& r, const std::string& reason);
  void remember_result(record& r, nlohmann::json result);  // under mutex_
  void upkeep_loop();  // starts queued runs when slots free, prunes, answers waits that ran out
  // Answers the waits whose time has come; the next deadline (max: none).
  std::chrono::steady_clock::time_point answer_expired_waits();
  nlohmann::json scenario_for(const submission& s);
  // Checked against the node's policy and loaded; throws api_error 400 naming the problems.
  Scenario load_submitted(const nlohmann::json& doc, const std::string& name) const;
  void on_event(const std::string& id, const Event& e);
  void on_result(const std::string& id, const RunResult& r);
  void finish(record& r, const RunResult& res);  // under mutex_: the result, stored and told
  // Starts a run whose record says running (off the lock: the runtime may call back at once).
  void launch(const std::string& id, const Scenario& scenario, std::optional<nlohmann::json> input);
  void start_waiting();  // queued runs, while there are free slots
  void wake_upkeep();
  void append_event(record& r, nlohmann::json e);  // under mutex_
  void acknowledge_when_written(const std::string& id, uint64_t ticket, acknowledge ack);
  void answer_end_waiters(record& r);              // under mutex_, once the run has ended

  // What the runtime's callbacks hold: events can still arrive after a run's result
  // (the event sink is an actor of its own), so a callback must find out whether the
  // registry is still there, under a lock its destructor takes too.
  struct liveness {
    explicit liveness(run_registry* r) : registry(r) {}
    std::mutex mutex;
    run_registry* registry;
  };
  std::shared_ptr<liveness> alive_ = std::make_shared<liveness>(this);

  Runtime& runtime_;
  run_store& store_;
  const node_options& options_;
  node_metrics& metrics_;
  mutable std::mutex mutex_;
  std::map<std::string, record> runs_;
  std::vector<std::string> order_;                 // ids, oldest first
  std::map<std::string, std::string> by_key_;      // idempotency key -> id
  scenario_catalog scenarios_;
  loaded_scenarios loaded_;
  size_t running_ = 0;
  bool draining_ = false;
  uint64_t next_ = 0;
  // Results kept in memory, the newest last: a client that just saw a run end asks for it
  // at once; older results are read from the store.
  static constexpr size_t recent_results = 256;
  static constexpr size_t recent_events = 1000;  // a recent run's log is kept up to this many
  std::deque<std::string> recent_;
  std::deque<std::string> waiting_;  // queued runs, first come first
  wait_deadlines wait_deadlines_;    // of the records' end_waiters, soonest first
  uint64_t next_waiter_ = 0;
  size_t waiters_ = 0;  // end_waiters in all records (a gauge)
  std::mutex upkeep_mutex_;
  std::condition_variable upkeep_wake_;
  bool upkeep_asked_ = false;
  bool stop_upkeep_ = false;
  std::thread upkeep_;  // last: started once the rest is ready
};

}  // namespace cohort::node
