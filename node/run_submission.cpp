// How the run registry takes a submission: the scenario found (by name or in the body),
// checked against the node's policy and loaded (once per document), the run recorded
// and started (or queued), and the client told once the run is on disk.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <random>

#include "node/run_registry.hpp"
#include "node/submission_policy.hpp"
#include "spec/scenario.hpp"

namespace cohort::node {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Time-ordered and unguessable enough that ids do not collide across restarts.
std::string new_run_id(uint64_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[48];
  std::snprintf(buf, sizeof buf, "run-%013lld-%04llx%06llx", static_cast<long long>(wall_ms()),
                static_cast<unsigned long long>(n & 0xffff), static_cast<unsigned long long>(rng() & 0xffffff));
  return buf;
}

}  // namespace

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
  r.stored.created_ms = wall_ms();
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

}  // namespace cohort::node
