// The run registry's upkeep, on a thread of its own: queued runs started as slots free,
// retention (--keep-runs, --keep-days) applied, and clients whose wait for a run's end
// ran out answered.
#include <algorithm>
#include <chrono>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "node/run_registry.hpp"

namespace cohort::node {

void run_registry::wake_upkeep() {
  {
    std::lock_guard<std::mutex> lock(upkeep_mutex_);
    upkeep_asked_ = true;
  }
  upkeep_wake_.notify_one();
}

void run_registry::upkeep_loop() {
  auto next_prune = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.prune_interval_ms);
  for (;;) {
    // Outside upkeep_mutex_: the registry's lock comes first (finish() wakes the upkeep under it).
    auto until = std::min(next_prune, answer_expired_waits());
    std::unique_lock<std::mutex> lock(upkeep_mutex_);
    upkeep_wake_.wait_until(lock, until, [this] { return stop_upkeep_ || upkeep_asked_; });
    if (stop_upkeep_) return;
    upkeep_asked_ = false;
    lock.unlock();
    start_waiting();
    if (std::chrono::steady_clock::now() >= next_prune) {
      prune();
      next_prune = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.prune_interval_ms);
    }
  }
}

void run_registry::start_waiting() {
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (waiting_.empty() || draining_ || running_ >= static_cast<size_t>(options_.max_runs)) return;
    auto id = waiting_.front();
    waiting_.pop_front();
    metrics_.queue_depth(waiting_.size());
    auto& r = runs_.at(id);  // a queued run leaves waiting_ before its record goes
    auto scenario = std::move(*r.waiting_scenario);
    auto input = std::move(r.waiting_input);
    r.waiting_scenario.reset();
    r.waiting_input.reset();
    r.stored.status = "running";
    store_.run_started(id);
    ++running_;
    metrics_.run_started();
    lock.unlock();  // the runtime may call back at once
    launch(id, scenario, std::move(input));
  }
}

size_t run_registry::prune() {
  if (options_.keep_runs == 0 && options_.keep_days <= 0) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  size_t done = 0;
  for (const auto& [id, r] : runs_) done += ended(r.stored.status) ? 1 : 0;
  size_t over = options_.keep_runs > 0 && done > options_.keep_runs ? done - options_.keep_runs : 0;
  using namespace std::chrono;
  int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  int64_t oldest_kept = options_.keep_days > 0 ? now - static_cast<int64_t>(options_.keep_days * 86400000.0) : INT64_MIN;
  std::vector<std::string> gone;
  std::vector<std::string> kept;
  kept.reserve(order_.size());
  for (const auto& id : order_) {  // oldest first
    auto it = runs_.find(id);
    const auto& s = it->second.stored;
    if (ended(s.status) && (over > 0 || s.created_ms < oldest_kept)) {
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

}  // namespace cohort::node
