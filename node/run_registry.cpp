#include "node/run_registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include <spdlog/spdlog.h>

#include "runtime/runtime_access.hpp"
#include "spec/scenario.hpp"

namespace cohort::node {
namespace {

RunResult cancelled_result(const std::string& why) {
  RunResult r;
  r.status = "cancelled";
  r.error_kind = "cancelled";
  r.error = why;
  return r;
}

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
  upkeep_ = std::thread([this] { upkeep_loop(); });
}

run_registry::~run_registry() {
  {
    std::lock_guard<std::mutex> lock(upkeep_mutex_);
    stop_upkeep_ = true;
  }
  upkeep_wake_.notify_all();
  upkeep_.join();
  drain(0);
  std::lock_guard<std::mutex> lock(alive_->mutex);
  alive_->registry = nullptr;
}

void run_registry::launch(const std::string& id, const Scenario& scenario, std::optional<nlohmann::json> input) {
  try {
    auto run = runtime_access::start(
        runtime_, id, scenario, std::move(input),
        [alive = alive_, id](const Event& e) {
          std::lock_guard<std::mutex> guard(alive->mutex);
          if (alive->registry) alive->registry->on_event(id, e);
        },
        [alive = alive_, id](const RunResult& res) {
          std::lock_guard<std::mutex> guard(alive->mutex);
          if (alive->registry) alive->registry->on_result(id, res);
        });
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = runs_.find(id);
    if (it != runs_.end() && it->second.stored.status == "running") {
      it->second.run = std::move(run);
      if (it->second.cancel_asked) it->second.run->cancel(*it->second.cancel_asked);
    }
  } catch (const std::exception& e) {  // its input was checked; still, the run ends with a result
    RunResult failed;
    failed.status = "failed";
    failed.error_kind = "start_failed";
    failed.error = e.what();
    on_result(id, failed);
  }
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
  if (it == runs_.end() || ended(it->second.stored.status)) return;  // the result is the last event
  if (e.leaf && e.kind == "finished")
    if (auto m = it->second.models.find(e.agent); m != it->second.models.end())
      metrics_.agent_call(m->second, static_cast<double>(e.duration_us) / 1e6);
  append_event(it->second, e.to_json());
}

void run_registry::on_result(const std::string& id, const RunResult& res) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = runs_.find(id);
  if (it == runs_.end() || ended(it->second.stored.status)) return;
  finish(it->second, res);
}

void run_registry::finish(record& r, const RunResult& res) {
  bool was_running = r.stored.status == "running";
  metrics_.run_finished(res, r.models, was_running);
  auto doc = res.to_json();
  append_event(r, {{"kind", "result"}, {"result", doc}});
  r.stored.status = res.status;
  r.stored.brief = run_brief::of(doc);
  store_.run_finished(r.stored.id, r.stored.status, doc);
  remember_result(r, std::move(doc));
  answer_end_waiters(r);
  for (auto& w : r.watchers)
    if (auto live = w.lock()) live->end();
  r.watchers.clear();
  if (r.events.size() > recent_events) r.events = {};  // a big log is read from the store
  r.run.reset();
  r.waiting_scenario.reset();
  r.waiting_input.reset();
  if (!was_running) return;
  --running_;
  if (!waiting_.empty()) wake_upkeep();  // a slot is free
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
  if (s.status == "queued")
    doc["queue_position"] = std::find(waiting_.begin(), waiting_.end(), s.id) - waiting_.begin() + 1;
  if (!ended(s.status)) return doc;
  if (!result && r.result) result = &*r.result;
  if (!result || !result->is_object()) {
    doc.update(s.brief.to_json());
    return doc;
  }
  for (const char* key : {"output", "error", "summary", "branches", "usage", "reports", "finished_branches"})
    if (result->contains(key)) doc[key] = (*result)[key];
  return doc;
}

void run_registry::check_known(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  find(id);
}

nlohmann::json run_registry::get(const std::string& id) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (!ended(r.stored.status) || r.result) return document(r);
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
  if (ended(r.stored.status))
    throw api_error(409, "run_finished", "run " + id + " has already ended (" + r.stored.status + ")");
  if (r.stored.status == "queued") {  // it never started: it ends now
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), id));
    metrics_.queue_depth(waiting_.size());
    finish(r, cancelled_result("cancelled through the node's API while queued"));
    return {{"id", id}, {"status", "cancelled"}};
  }
  cancel_running(r, "cancelled through the node's API");
  return {{"id", id}, {"status", "cancelling"}};
}

void run_registry::cancel_running(record& r, const std::string& reason) {
  if (r.run)
    r.run->cancel(reason);
  else
    r.cancel_asked = reason;
}

std::shared_ptr<const run_context> run_registry::live_context(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& r = find(id);
  auto context = r.run ? runtime_access::context(*r.run) : nullptr;
  if (!context) throw api_error(409, "not_running", "run " + id + " is " + r.stored.status + ", not running");
  return context;
}

void run_registry::forget(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (!ended(r.stored.status))
    throw api_error(409, "run_running", "run " + id + " is still running: cancel it first");
  if (!r.stored.idempotency_key.empty()) by_key_.erase(r.stored.idempotency_key);
  runs_.erase(id);
  order_.erase(std::find(order_.begin(), order_.end(), id));
  store_.run_deleted(id);
}


void run_registry::watch(const std::string& id, int64_t after_seq, const std::shared_ptr<event_watcher>& w) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& r = find(id);
  // A running run's log, or a recent one's (kept with its result): no disk read.
  if (!ended(r.stored.status) || !r.events.empty()) {
    for (const auto& e : r.events)
      if (e.value("seq", int64_t{0}) > after_seq) w->deliver(e, true);
    if (ended(r.stored.status)) return w->end();
    r.watchers.push_back(w);
    return;
  }
  lock.unlock();
  store_.flush();  // its last events may still be on their way to disk
  for (const auto& e : store_.events(id, after_seq)) w->deliver(e, true);
  w->end();
}

size_t run_registry::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

void run_registry::drain(int64_t grace_ms) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
    while (!waiting_.empty()) {  // not started: nothing to let finish
      auto& r = runs_.at(waiting_.front());
      waiting_.pop_front();
      finish(r, cancelled_result("the node shut down while the run was queued"));
    }
    metrics_.queue_depth(0);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (running() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, r] : runs_)
      if (r.stored.status == "running") cancel_running(r, "the node is shutting down");
  }
  // Cancelled runs end within their grace period (a second); bounded in any case.
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running() > 0 && std::chrono::steady_clock::now() < hard)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  store_.flush();
}

}  // namespace cohort::node
