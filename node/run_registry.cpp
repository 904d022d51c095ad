#include "node/run_registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "node/submission_policy.hpp"
#include "spec/scenario.hpp"

namespace cohort::node {
namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Time-ordered and unguessable enough that ids do not collide across restarts.
std::string new_run_id(uint64_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[48];
  std::snprintf(buf, sizeof buf, "run-%013lld-%04llx%06llx", static_cast<long long>(now_ms()),
                static_cast<unsigned long long>(n & 0xffff), static_cast<unsigned long long>(rng() & 0xffffff));
  return buf;
}

bool finished(const std::string& status) { return status != "running"; }

}  // namespace

run_registry::run_registry(Runtime& runtime, run_store& store, const node_options& options, node_metrics& metrics)
    : runtime_(runtime), store_(store), options_(options), metrics_(metrics) {
  for (auto& s : store_.load_runs()) {
    auto id = s.id;
    if (!s.idempotency_key.empty()) by_key_[s.idempotency_key] = id;
    order_.push_back(id);
    record r;
    r.stored = std::move(s);
    runs_.emplace(id, std::move(r));
  }
  prune();
  pruner_ = std::thread([this] { prune_loop(); });
}

run_registry::~run_registry() {
  {
    std::lock_guard<std::mutex> lock(prune_mutex_);
    stop_pruning_ = true;
  }
  prune_wake_.notify_all();
  pruner_.join();
  drain(0);
  std::lock_guard<std::mutex> lock(alive_->mutex);
  alive_->registry = nullptr;
}

nlohmann::json run_registry::scenario_for(const submission& s) {
  if (!s.scenario.is_null()) return s.scenario;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = scenarios_.find(s.scenario_name);
  if (it == scenarios_.end())
    throw api_error(404, "unknown_scenario", "no scenario named \"" + s.scenario_name + "\" on this node",
                    {{"$.scenario_name", "not registered (GET /v1/scenarios lists them)"}});
  return it->second;
}

std::pair<nlohmann::json, bool> run_registry::submit(const submission& s) {
  if (!s.idempotency_key.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = by_key_.find(s.idempotency_key); it != by_key_.end()) return {document(runs_.at(it->second)), false};
  }
  auto doc = scenario_for(s);
  auto refused = check_submitted_scenario(doc, options_.allowed_key_env);
  if (!refused.empty())
    throw api_error(400, "forbidden_scenario", "the scenario asks for what a submitted scenario may not have",
                    std::move(refused));
  Scenario scenario;
  try {
    scenario = runtime_.load(doc, s.scenario_name.empty() ? "(request body)" : s.scenario_name);
  } catch (const scenario_error& e) {
    std::vector<problem> problems;
    for (const auto& p : e.problems()) problems.push_back(problem_from(p));
    throw api_error(400, "invalid_scenario", "the scenario does not validate", std::move(problems));
  } catch (const std::exception& e) {
    throw api_error(400, "invalid_scenario", e.what(), {{"$", e.what()}});
  }

  std::unique_lock<std::mutex> lock(mutex_);
  if (draining_) throw api_error(503, "draining", "the node is shutting down and takes no new runs");
  if (!s.idempotency_key.empty())  // asked twice at once: the first one in wins
    if (auto it = by_key_.find(s.idempotency_key); it != by_key_.end()) return {document(runs_.at(it->second)), false};
  if (running_ >= static_cast<size_t>(options_.max_runs))
    throw api_error(429, "too_many_runs", std::to_string(running_) + " runs are running, the node's max_runs");
  auto id = new_run_id(++next_);
  record r;
  r.stored.id = id;
  r.stored.status = "running";
  r.stored.created_ms = now_ms();
  r.stored.scenario = scenario.name();
  r.stored.idempotency_key = s.idempotency_key;
  if (doc.contains("agents") && doc["agents"].is_object())
    for (const auto& [name, a] : doc["agents"].items())
      if (a.is_object() && a.contains("model") && a["model"].is_string()) r.models[name] = a["model"].get<std::string>();
  store_.run_created(r.stored);
  auto& rec = runs_.emplace(id, std::move(r)).first->second;
  order_.push_back(id);
  if (!s.idempotency_key.empty()) by_key_[s.idempotency_key] = id;
  ++running_;
  metrics_.run_started();
  lock.unlock();  // the runtime may call back at once
  try {
    auto run = runtime_.start(
        scenario, s.input,
        [alive = alive_, id](const Event& e) {
          std::lock_guard<std::mutex> guard(alive->mutex);
          if (alive->registry) alive->registry->on_event(id, e);
        },
        [alive = alive_, id](const RunResult& res) {
          std::lock_guard<std::mutex> guard(alive->mutex);
          if (alive->registry) alive->registry->on_result(id, res);
        });
    lock.lock();
    if (rec.stored.status == "running") rec.run = std::move(run);
  } catch (const std::exception& e) {  // e.g. the input does not fit the scenario
    lock.lock();
    --running_;
    metrics_.run_not_started();
    runs_.erase(id);
    order_.pop_back();
    if (!s.idempotency_key.empty()) by_key_.erase(s.idempotency_key);
    store_.run_deleted(id);
    throw api_error(400, "invalid_input", e.what(), {{"$.input", e.what()}});
  }
  return {document(rec), true};
}

void run_registry::append_event(record& r, nlohmann::json e) {
  auto seq = static_cast<int64_t>(++r.stored.events);
  e["seq"] = seq;
  store_.event(r.stored.id, seq, e);
  for (auto& w : r.watchers)
    if (auto live = w.lock()) live->deliver(e);
  r.events.push_back(std::move(e));
}

void run_registry::on_event(const std::string& id, const Event& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = runs_.find(id);
  if (it == runs_.end() || finished(it->second.stored.status)) return;  // the result is the last event
  if (e.leaf && e.kind == "finished")
    if (auto m = it->second.models.find(e.agent); m != it->second.models.end())
      metrics_.agent_call(m->second, static_cast<double>(e.duration_us) / 1e6);
  append_event(it->second, e.to_json());
}

void run_registry::on_result(const std::string& id, const RunResult& res) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  auto& r = it->second;
  metrics_.run_finished(res, r.models);
  auto doc = res.to_json();
  append_event(r, {{"kind", "result"}, {"result", doc}});
  r.stored.status = res.status;
  r.stored.brief = run_brief::of(doc);
  store_.run_finished(id, r.stored.status, doc);
  remember_result(r, std::move(doc));
  for (auto& w : r.watchers)
    if (auto live = w.lock()) live->end();
  r.watchers.clear();
  if (r.events.size() > recent_events) r.events = {};  // a big log is read from the store
  r.run.reset();
  --running_;
}

void run_registry::remember_result(record& r, nlohmann::json result) {
  r.result = std::move(result);
  recent_.push_back(r.stored.id);
  while (recent_.size() > recent_results) {
    if (auto it = runs_.find(recent_.front()); it != runs_.end()) {
      it->second.result.reset();
      it->second.events = {};  // on disk by now (256 runs later), read from there
    }
    recent_.pop_front();
  }
}

run_registry::record& run_registry::find(const std::string& id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) throw api_error(404, "unknown_run", "no run " + id + " on this node");
  return it->second;
}

nlohmann::json run_registry::document(const record& r, const nlohmann::json* result) const {
  const auto& s = r.stored;
  nlohmann::json doc{{"id", s.id},
                     {"status", s.status},
                     {"scenario", s.scenario},
                     {"created_ms", s.created_ms},
                     {"events", s.events},
                     {"links", {{"self", "/v1/runs/" + s.id},
                                {"events", "/v1/runs/" + s.id + "/events"},
                                {"cancel", "/v1/runs/" + s.id + "/cancel"}}}};
  if (!s.idempotency_key.empty()) doc["idempotency_key"] = s.idempotency_key;
  if (!finished(s.status)) return doc;
  if (!result && r.result) result = &*r.result;
  if (!result || !result->is_object()) {
    doc.update(s.brief.to_json());
    return doc;
  }
  for (const char* key : {"output", "error", "summary", "branches", "usage", "reports", "finished_branches"})
    if (result->contains(key)) doc[key] = (*result)[key];
  return doc;
}

nlohmann::json run_registry::get(const std::string& id) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (!finished(r.stored.status) || r.result) return document(r);
  auto brief = document(r);
  lock.unlock();
  // Off the lock: a disk read must not stall the runs' callbacks.
  auto result = store_.result(id);
  if (result.is_null()) {  // its write may still be queued
    store_.flush();
    result = store_.result(id);
  }
  lock.lock();
  auto it = runs_.find(id);
  if (it == runs_.end()) return brief;  // forgotten meanwhile
  return document(it->second, &result);
}

nlohmann::json run_registry::list(const std::string& status, size_t limit, const std::string& after) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto page = nlohmann::json::array();
  bool started = after.empty();
  std::string last;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (!started) {
      started = *it == after;
      continue;
    }
    const auto& r = runs_.at(*it);
    if (!status.empty() && r.stored.status != status) continue;
    if (page.size() == limit) return {{"runs", page}, {"next_after", last}};
    auto doc = document(r);
    for (const char* key : {"output", "usage", "reports", "finished_branches"}) doc.erase(key);
    if (auto e = doc.find("error"); e != doc.end() && e->is_object()) e->erase("message");  // the brief's shape
    if (auto sm = doc.find("summary"); sm != doc.end() && sm->is_object())
      *sm = nlohmann::json{{"wall_ms", sm->value("wall_ms", int64_t{-1})}};
    page.push_back(std::move(doc));
    last = *it;
  }
  return {{"runs", page}, {"next_after", nullptr}};
}

nlohmann::json run_registry::cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (finished(r.stored.status))
    throw api_error(409, "run_finished", "run " + id + " has already ended (" + r.stored.status + ")");
  if (r.run) r.run->cancel("cancelled through the node's API");
  return {{"id", id}, {"status", "cancelling"}};
}

void run_registry::forget(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (!finished(r.stored.status))
    throw api_error(409, "run_running", "run " + id + " is still running: cancel it first");
  if (!r.stored.idempotency_key.empty()) by_key_.erase(r.stored.idempotency_key);
  runs_.erase(id);
  order_.erase(std::find(order_.begin(), order_.end(), id));
  store_.run_deleted(id);
}

size_t run_registry::prune() {
  if (options_.keep_runs == 0 && options_.keep_days <= 0) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  size_t ended = 0;
  for (const auto& [id, r] : runs_) ended += finished(r.stored.status) ? 1 : 0;
  size_t over = options_.keep_runs > 0 && ended > options_.keep_runs ? ended - options_.keep_runs : 0;
  int64_t oldest_kept = options_.keep_days > 0 ? now_ms() - static_cast<int64_t>(options_.keep_days * 86400000.0) : INT64_MIN;
  std::vector<std::string> gone;
  std::vector<std::string> kept;
  kept.reserve(order_.size());
  for (const auto& id : order_) {  // oldest first
    auto it = runs_.find(id);
    const auto& s = it->second.stored;
    if (finished(s.status) && (over > 0 || s.created_ms < oldest_kept)) {
      if (over > 0) --over;
      if (!s.idempotency_key.empty()) by_key_.erase(s.idempotency_key);
      runs_.erase(it);
      gone.push_back(id);
    } else {
      kept.push_back(id);
    }
  }
  if (gone.empty()) return 0;
  order_.swap(kept);
  spdlog::info("retention: {} ended run(s) pruned", gone.size());
  store_.runs_deleted(gone);
  return gone.size();
}

void run_registry::prune_loop() {
  std::unique_lock<std::mutex> lock(prune_mutex_);
  while (!stop_pruning_) {
    prune_wake_.wait_for(lock, std::chrono::milliseconds(options_.prune_interval_ms));
    if (stop_pruning_) return;
    lock.unlock();
    prune();
    lock.lock();
  }
}

void run_registry::watch(const std::string& id, int64_t after_seq, const std::shared_ptr<event_watcher>& w) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& r = find(id);
  // A running run's log, or a recent one's (kept with its result): no disk read.
  if (!finished(r.stored.status) || !r.events.empty()) {
    for (const auto& e : r.events)
      if (e.value("seq", int64_t{0}) > after_seq) w->deliver(e);
    if (finished(r.stored.status)) return w->end();
    r.watchers.push_back(w);
    return;
  }
  lock.unlock();
  store_.flush();  // its last events may still be on their way to disk
  for (const auto& e : store_.events(id, after_seq)) w->deliver(e);
  w->end();
}

void run_registry::add_scenario(const std::string& name, nlohmann::json doc) {
  std::lock_guard<std::mutex> lock(mutex_);
  scenarios_[name] = std::move(doc);
}

nlohmann::json run_registry::scenario_names() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto names = nlohmann::json::array();
  for (const auto& [name, doc] : scenarios_) names.push_back(name);
  return {{"scenarios", names}};
}

size_t run_registry::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

void run_registry::drain(int64_t grace_ms) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (running() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, r] : runs_)
      if (r.run) r.run->cancel("the node is shutting down");
  }
  // Cancelled runs end within their grace period (a second); bounded in any case.
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running() > 0 && std::chrono::steady_clock::now() < hard)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  store_.flush();
}

}  // namespace cohort::node
