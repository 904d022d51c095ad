#pragma once
// The node's store: runs, their final results and their event logs in SQLite (WAL mode)
// under the data directory. Writes are queued and done in order by a thread of the
// store's own, in batched transactions, so a slow disk never stalls a run; flush() waits
// for them. A run still `running` (or `queued`) when the store is opened was cut off by a
// crash or a kill: it is marked `interrupted`, with what its finished branches had reported.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace cohort::node {

class statement_cache;

// What a listing shows of a finished run; the whole result stays on disk.
struct run_brief {
  int64_t wall_ms = -1;  // -1: not finished (or cut off)
  int64_t succeeded = 0, failed = 0, timed_out = 0, cancelled = 0;
  std::string error_kind;
  // From a result document ({"summary", "branches", "error"}).
  static run_brief of(const nlohmann::json& result);
  nlohmann::json to_json() const;  // {"summary": {"wall_ms"}, "branches", "error": {"kind"}}
};

struct stored_run {
  std::string id;
  std::string status;          // queued | running | succeeded | failed | timed_out | cancelled | interrupted
  int64_t created_ms = 0;
  std::string scenario;        // the scenario's name
  std::string idempotency_key; // "" = none
  int64_t events = 0;          // how many events it logged
  run_brief brief;
};

// Whether a run with this status has its final result.
inline bool ended(const std::string& status) { return status != "running" && status != "queued"; }

class run_store {
 public:
  // Opens (creates) DIR/cohort.db; throws std::runtime_error naming the file.
  explicit run_store(const std::string& dir);
  ~run_store();  // writes what is queued, then closes
  run_store(const run_store&) = delete;
  run_store& operator=(const run_store&) = delete;

  // Every run, oldest first; runs found `running` are marked interrupted first.
  std::vector<stored_run> load_runs();
  // A finished run's result document, null when none is on disk (yet: see flush()).
  nlohmann::json result(const std::string& id);
  // A run's events with a sequence number above `after`, in order (each has "seq").
  std::vector<nlohmann::json> events(const std::string& id, int64_t after);

  // Returns a ticket for wait_written: a run is acknowledged only once it is on disk.
  uint64_t run_created(const stored_run& r);
  // Waits until the write with this ticket (and all before it) is committed.
  void wait_written(uint64_t ticket);
  // Calls `then` once the write with this ticket (and all before it) is committed: at once
  // when it is, else on the store's thread right after the commit (flush() waits for it).
  // `then` must not wait for the store.
  void when_written(uint64_t ticket, std::function<void()> then);
  void run_started(const std::string& id);  // a queued run got its slot
  void event(const std::string& id, int64_t seq, const nlohmann::json& e);
  void run_finished(const std::string& id, const std::string& status, const nlohmann::json& result);
  void run_deleted(const std::string& id);
  void runs_deleted(std::vector<std::string> ids);  // in one transaction
  // Waits until every queued write is on disk; on the store's own thread (in a `then`),
  // returns at once instead of waiting for itself.
  void flush();

 private:
  using write = std::function<void(statement_cache&)>;
  uint64_t enqueue(write w);  // its ticket
  void writer_loop();
  void exec(const char* sql);
  void mark_interrupted();

  std::string path_;
  sqlite3* db_ = nullptr;      // the writer's connection
  sqlite3* reader_ = nullptr;  // reads (WAL: they never wait for the writer)
  std::mutex read_mutex_;
  std::mutex mutex_;           // the queue
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<write> queue_;
  bool writing_ = false;
  uint64_t queued_ = 0;   // tickets handed out
  uint64_t written_ = 0;  // tickets committed
  std::vector<std::pair<uint64_t, std::function<void()>>> after_commit_;  // when_written, by ticket
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace cohort::node
