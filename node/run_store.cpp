#include "node/run_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace cohort::node {
namespace {

// A prepared statement, finalized when it goes.
class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("store: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  bool step() {  // true: a row
    auto rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("store: ") + sqlite3_errmsg(db_));
    return false;
  }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  void reset() {  // to run again with new bindings
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

// The writer's statements, prepared once each (by their SQL's address: the writes use
// literals) and reset for every use.
class statement_cache {
 public:
  explicit statement_cache(sqlite3* db) : db_(db) {}
  statement& operator()(const char* sql) {
    auto& s = prepared_[sql];
    if (!s) s = std::make_unique<statement>(db_, sql);
    else s->reset();
    return *s;
  }

 private:
  sqlite3* db_;
  std::map<const char*, std::unique_ptr<statement>> prepared_;
};

namespace {

sqlite3* open_db(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("store: cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

nlohmann::json parse_stored(const std::string& text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text, nullptr, false);  // written by us; a torn value reads as discarded
}

}  // namespace

run_brief run_brief::of(const nlohmann::json& result) {
  run_brief b;
  if (!result.is_object()) return b;
  auto number = [](const nlohmann::json& j, const char* key, int64_t fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
  };
  if (auto s = result.find("summary"); s != result.end() && s->is_object()) b.wall_ms = number(*s, "wall_ms", -1);
  if (auto br = result.find("branches"); br != result.end() && br->is_object()) {
    b.succeeded = number(*br, "succeeded", 0);
    b.failed = number(*br, "failed", 0);
    b.timed_out = number(*br, "timed_out", 0);
    b.cancelled = number(*br, "cancelled", 0);
  }
  if (auto e = result.find("error"); e != result.end() && e->is_object())
    if (auto k = e->find("kind"); k != e->end() && k->is_string()) b.error_kind = k->get<std::string>();
  return b;
}

nlohmann::json run_brief::to_json() const {
  nlohmann::json j{{"branches", {{"succeeded", succeeded}, {"failed", failed}, {"timed_out", timed_out}, {"cancelled", cancelled}}}};
  if (wall_ms >= 0) j["summary"] = {{"wall_ms", wall_ms}};
  if (!error_kind.empty()) j["error"] = {{"kind", error_kind}};
  return j;
}

run_store::run_store(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("store: cannot create the data directory " + dir + ": " + ec.message());
  path_ = (std::filesystem::path(dir) / "cohort.db").string();
  db_ = open_db(path_);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");  // WAL + NORMAL: a commit survives a process kill
    exec("CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, "
         "status TEXT NOT NULL, scenario TEXT NOT NULL, idempotency_key TEXT, result TEXT)");
    exec("CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs(idempotency_key) "
         "WHERE idempotency_key IS NOT NULL");
    exec("CREATE TABLE IF NOT EXISTS events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, "
         "PRIMARY KEY (run_id, seq)) WITHOUT ROWID");
    mark_interrupted();
    reader_ = open_db(path_);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
  writer_ = std::thread([this] { writer_loop(); });
}

run_store::~run_store() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
  sqlite3_close(reader_);
  sqlite3_close(db_);
}

void run_store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("store " + path_ + ": " + why);
  }
}

// A run cut off by a crash: its result says so, with what its finished leaves reported.
void run_store::mark_interrupted() {
  std::vector<std::string> ids;
  {
    statement q(db_, "SELECT id FROM runs WHERE status IN ('running', 'queued')");
    while (q.step()) ids.push_back(q.text(0));
  }
  for (const auto& id : ids) {
    auto finished = nlohmann::json::object();
    statement ev(db_, "SELECT body FROM events WHERE run_id = ? ORDER BY seq");
    ev.bind(1, id);
    while (ev.step()) {
      auto e = parse_stored(ev.text(0));
      if (e.is_object() && e.value("kind", "") == "finished" && e.value("leaf", false))
        finished[e.value("path", "")] = e.value("status", "");
    }
    nlohmann::json result{{"status", "interrupted"},
                          {"output", nullptr},
                          {"error", {{"kind", "interrupted"},
                                     {"message", "the node stopped while the run was in flight"}}},
                          {"finished_branches", finished}};
    statement up(db_, "UPDATE runs SET status = 'interrupted', result = ? WHERE id = ?");
    up.bind(1, result.dump()).bind(2, id).step();
    spdlog::warn("run {} was in flight when the node stopped: marked interrupted", id);
  }
}

std::vector<stored_run> run_store::load_runs() {
  std::lock_guard<std::mutex> lock(read_mutex_);
  std::vector<stored_run> out;
  // The brief from the result in SQL (JSON1): a store of many runs is loaded without
  // parsing every result.
  statement q(reader_,
              "SELECT r.id, r.status, r.created_ms, r.scenario, IFNULL(r.idempotency_key, ''), "
              "(SELECT COUNT(*) FROM events e WHERE e.run_id = r.id), "
              "IFNULL(json_extract(r.result, '$.summary.wall_ms'), -1), "
              "IFNULL(json_extract(r.result, '$.branches.succeeded'), 0), "
              "IFNULL(json_extract(r.result, '$.branches.failed'), 0), "
              "IFNULL(json_extract(r.result, '$.branches.timed_out'), 0), "
              "IFNULL(json_extract(r.result, '$.branches.cancelled'), 0), "
              "IFNULL(json_extract(r.result, '$.error.kind'), '') "
              "FROM runs r ORDER BY r.created_ms, r.id");
  while (q.step()) {
    stored_run r;
    r.id = q.text(0);
    r.status = q.text(1);
    r.created_ms = q.integer(2);
    r.scenario = q.text(3);
    r.idempotency_key = q.text(4);
    r.events = q.integer(5);
    r.brief.wall_ms = q.integer(6);
    r.brief.succeeded = q.integer(7);
    r.brief.failed = q.integer(8);
    r.brief.timed_out = q.integer(9);
    r.brief.cancelled = q.integer(10);
    r.brief.error_kind = q.text(11);
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json run_store::result(const std::string& id) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  statement q(reader_, "SELECT IFNULL(result, '') FROM runs WHERE id = ?");
  q.bind(1, id);
  return q.step() ? parse_stored(q.text(0)) : nlohmann::json();
}

std::vector<nlohmann::json> run_store::events(const std::string& id, int64_t after) {
  std::lock_guard<std::mutex> lock(read_mutex_);
  std::vector<nlohmann::json> out;
  statement q(reader_, "SELECT seq, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq");
  q.bind(1, id).bind(2, after);
  while (q.step()) {
    auto e = parse_stored(q.text(1));
    if (!e.is_object()) continue;
    e["seq"] = q.integer(0);
    if (e.value("kind", "") == "result" && !e.contains("result")) {
      statement r(reader_, "SELECT IFNULL(result, '') FROM runs WHERE id = ?");
      r.bind(1, id);
      e["result"] = r.step() ? parse_stored(r.text(0)) : nlohmann::json();
    }
    out.push_back(std::move(e));
  }
  return out;
}

uint64_t run_store::run_created(const stored_run& r) {
  return enqueue([r](statement_cache& sql) {
    auto& q = sql("INSERT INTO runs (id, created_ms, status, scenario, idempotency_key) VALUES (?, ?, ?, ?, ?)");
    q.bind(1, r.id).bind(2, r.created_ms).bind(3, r.status).bind(4, r.scenario);
    if (!r.idempotency_key.empty()) q.bind(5, r.idempotency_key);  // else NULL: no key
    q.step();
  });
}

void run_store::run_started(const std::string& id) {
  enqueue([id](statement_cache& sql) { sql("UPDATE runs SET status = 'running' WHERE id = ?").bind(1, id).step(); });
}

void run_store::event(const std::string& id, int64_t seq, const nlohmann::json& e) {
  // The result event's result is the run's row's: kept once, put back when read.
  auto kind = e.find("kind");
  bool result = kind != e.end() && *kind == "result";
  auto body = result ? std::string(R"({"kind":"result"})")
                     : e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  enqueue([id, seq, body = std::move(body)](statement_cache& sql) {
    sql("INSERT OR REPLACE INTO events (run_id, seq, body) VALUES (?, ?, ?)").bind(1, id).bind(2, seq).bind(3, body).step();
  });
}

void run_store::run_finished(const std::string& id, const std::string& status, const nlohmann::json& result) {
  enqueue([id, status, body = result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)](statement_cache& sql) {
    sql("UPDATE runs SET status = ?, result = ? WHERE id = ?").bind(1, status).bind(2, body).bind(3, id).step();
  });
}

void run_store::run_deleted(const std::string& id) { runs_deleted({id}); }

void run_store::runs_deleted(std::vector<std::string> ids) {
  enqueue([ids = std::move(ids)](statement_cache& sql) {
    for (const auto& id : ids) {
      sql("DELETE FROM events WHERE run_id = ?").bind(1, id).step();
      sql("DELETE FROM runs WHERE id = ?").bind(1, id).step();
    }
  });
}

uint64_t run_store::enqueue(write w) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(w));
    ticket = ++queued_;
  }
  wake_.notify_one();
  return ticket;
}

void run_store::wait_written(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [&] { return written_ >= ticket; });
}

void run_store::when_written(uint64_t ticket, std::function<void()> then) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (written_ < ticket) {
      after_commit_.emplace_back(ticket, std::move(then));
      return;
    }
  }
  then();
}

void run_store::flush() {
  // An acknowledgement runs on the store's own thread, which cannot wait for itself: the
  // writes it would wait for are the ones that thread takes next.
  if (std::this_thread::get_id() == writer_.get_id()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

// Takes what is queued and writes it in one transaction: many events of a busy run
// cost one commit, not one each.
void run_store::writer_loop() {
  statement_cache sql(db_);
  for (;;) {
    std::deque<write> batch;
    uint64_t batch_end = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      writing_ = true;
      batch_end = queued_;
    }
    try {
      sql("BEGIN").step();
      for (auto& w : batch) {
        try {
          w(sql);
        } catch (const std::exception& e) {  // one bad write must not lose the batch
          spdlog::error("{}", e.what());
        }
      }
      sql("COMMIT").step();
    } catch (const std::exception& e) {
      spdlog::error("store: a batch of {} writes failed: {}", batch.size(), e.what());
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      written_ = batch_end;  // committed (or reported failed): no one waits forever
      auto later = std::stable_partition(after_commit_.begin(), after_commit_.end(),
                                         [&](const auto& t) { return t.first <= batch_end; });
      for (auto it = after_commit_.begin(); it != later; ++it) ready.push_back(std::move(it->second));
      after_commit_.erase(after_commit_.begin(), later);
    }
    drained_.notify_all();
    for (auto& then : ready) {  // outside the lock: they may queue writes
      try {
        then();
      } catch (const std::exception& e) {  // one client's answer must not stop the store
        spdlog::error("store: an acknowledgement failed: {}", e.what());
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      writing_ = false;
    }
    drained_.notify_all();
  }
}

}  // namespace cohort::node
