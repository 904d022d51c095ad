#include "node/run_registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "node/submission_policy.hpp"
#include "runtime/runtime_access.hpp"
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

nlohmann::json run_registry::scenario_for(const submission& s) {
  if (!s.scenario.is_null()) return s.scenario;
  auto doc = scenarios_.find(s.scenario_name);
  if (doc.is_null())
    throw api_error(404, "unknown_scenario", "no scenario named \"" + s.scenario_name + "\" on this node",
                    {{"$.scenario_name", "not registered (GET /v1/scenarios lists them)"}});
  return doc;
}

Scenario run_registry::load_submitted(const nlohmann::json& doc, const std::string& name) const {
  auto refused = check_submitted_scenario(doc, options_.allowed_key_env);
  if (!refused.empty())
    throw api_error(400, "forbidden_scenario", "the scenario asks for what a submitted scenario may not have",
                    std::move(refused));
  try {
    return runtime_.load(doc, name.empty() ? "(request body)" : name);
  } catch (const scenario_error& e) {
    std::vector<problem> problems;
    for (const auto& p : e.problems()) problems.push_back(problem_from(p));
    throw api_error(400, "invalid_scenario", "the scenario does not validate", std::move(problems));
  } catch (const std::exception& e) {
    throw api_error(400, "invalid_scenario", e.what(), {{"$", e.what()}});
  }
}

std::pair<nlohmann::json, bool> run_registry::submit(const submission& s) {
  std::promise<std::pair<nlohmann::json, bool>> acknowledged;
  auto answer = acknowledged.get_future();
  submit_async(s, [&acknowledged](nlohmann::json doc, bool created) { acknowledged.set_value({std::move(doc), created}); });
  return answer.get();
}

void run_registry::submit_async(const submission& s, acknowledge ack) {
  auto known_key = [&]() -> std::optional<nlohmann::json> {
    if (s.idempotency_key.empty()) return std::nullopt;
    auto it = by_key_.find(s.idempotency_key);
    return it == by_key_.end() ? std::nullopt : std::optional<nlohmann::json>(document(runs_.at(it->second)));
  };
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (auto doc = known_key()) {
      lock.unlock();
      return ack(std::move(*doc), false);
    }
  }
  auto doc = scenario_for(s);
  auto key = loaded_scenarios::key_of(doc);
  auto known = loaded_.find(key);
  Scenario scenario = known ? std::move(*known) : load_submitted(doc, s.scenario_name);
  if (!known) loaded_.keep(key, scenario);

  if (s.input) {
    try {
      scenario.check_input(*s.input);
    } catch (const std::exception& e) {
      throw api_error(400, "invalid_input", e.what(), {{"$.input", e.what()}});
    }
  }

  std::unique_lock<std::mutex> lock(mutex_);
  if (draining_) throw api_error(503, "draining", "the node is shutting down and takes no new runs");
  if (auto doc = known_key()) {  // asked twice at once: the first one in wins
    lock.unlock();
    return ack(std::move(*doc), false);
  }
  bool start_now = running_ < static_cast<size_t>(options_.max_runs);
  if (!start_now && waiting_.size() >= options_.queue)
    throw api_error(429, "too_many_runs",
                    std::to_string(running_) + " runs are running, the node's max_runs" +
                        (options_.queue > 0 ? ", and its queue is full" : ""));
  auto id = new_run_id(++next_);
  record r;
  r.stored.id = id;
  r.stored.status = start_now ? "running" : "queued";
  r.stored.created_ms = now_ms();
  r.stored.scenario = scenario.name();
  r.stored.idempotency_key = s.idempotency_key;
  if (doc.contains("agents") && doc["agents"].is_object())
    for (const auto& [name, a] : doc["agents"].items())
      if (a.is_object() && a.contains("model") && a["model"].is_string()) r.models[name] = a["model"].get<std::string>();
  auto ticket = store_.run_created(r.stored);
  auto& rec = runs_.emplace(id, std::move(r)).first->second;
  order_.push_back(id);
  if (!s.idempotency_key.empty()) by_key_[s.idempotency_key] = id;
  if (!start_now) {
    rec.waiting_scenario = std::move(scenario);
    rec.waiting_input = s.input;
    waiting_.push_back(id);
    metrics_.queue_depth(waiting_.size());
    lock.unlock();
    return acknowledge_when_written(id, ticket, std::move(ack));
  }
  ++running_;
  metrics_.run_started();
  lock.unlock();  // the runtime may call back at once
  launch(id, scenario, s.input);
  acknowledge_when_written(id, ticket, std::move(ack));
}

// 201 promises the run survives a kill: it is told once the run is on disk. No thread
// waits for that meanwhile; the document is the run as it is by then.
void run_registry::acknowledge_when_written(const std::string& id, uint64_t ticket, acknowledge ack) {
  store_.when_written(ticket, [alive = alive_, id, ack = std::move(ack)] {
    std::unique_lock<std::mutex> guard(alive->mutex);
    if (!alive->registry) return;
    std::unique_lock<std::mutex> lock(alive->registry->mutex_);
    auto it = alive->registry->runs_.find(id);  // it may have ended, and been pruned, meanwhile
    auto doc = it == alive->registry->runs_.end() ? nlohmann::json{{"id", id}, {"status", "pruned"}}
                                                  : alive->registry->document(it->second);
    lock.unlock();
    guard.unlock();
    ack(std::move(doc), true);
  });
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
    if (it != runs_.end() && it->second.stored.status == "running") it->second.run = std::move(run);
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
  if (r.run) r.run->cancel("cancelled through the node's API");
  return {{"id", id}, {"status", "cancelling"}};
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
      if (r.run) r.run->cancel("the node is shutting down");
  }
  // Cancelled runs end within their grace period (a second); bounded in any case.
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running() > 0 && std::chrono::steady_clock::now() < hard)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  store_.flush();
}

}  // namespace cohort::node
