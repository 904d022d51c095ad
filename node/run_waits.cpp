// Clients that submit a run and wait for its end in the same request (POST /v1/runs
// with "wait_ms"): one request instead of a submit and an event stream. Each is answered
// once, when the run ends or when its wait runs out; the upkeep thread keeps the time.
#include <algorithm>

#include "node/run_registry.hpp"

namespace cohort::node {

uint64_t run_registry::await_end(const std::string& id, int64_t wait_ms, std::function<void(nlohmann::json)> answer) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& r = find(id);
  if (ended(r.stored.status)) {
    if (r.result) {
      answer(document(r));
      return 0;
    }
    lock.unlock();
    answer(get(id));  // an older run (an idempotency key's): its result is on disk
    return 0;
  }
  auto serial = ++next_waiter_;
  metrics_.run_waiters(++waiters_);
  if (wait_ms == no_deadline) {
    r.end_waiters.push_back({serial, std::move(answer), wait_deadlines_.end()});
    return serial;
  }
  auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  bool soonest = wait_deadlines_.empty() || due < wait_deadlines_.begin()->first;
  auto deadline = wait_deadlines_.emplace(due, std::make_pair(id, serial));
  r.end_waiters.push_back({serial, std::move(answer), deadline});
  if (soonest) wake_upkeep();  // it sleeps until the deadline it knew
  return serial;
}

void run_registry::withdraw_wait(const std::string& id, uint64_t serial) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  auto& waiters = it->second.end_waiters;
  auto w = std::find_if(waiters.begin(), waiters.end(), [&](const end_waiter& e) { return e.serial == serial; });
  if (w == waiters.end()) return;  // answered already
  if (w->deadline != wait_deadlines_.end()) wait_deadlines_.erase(w->deadline);
  waiters.erase(w);
  metrics_.run_waiters(--waiters_);
}

void run_registry::answer_end_waiters(record& r) {
  if (r.end_waiters.empty()) return;
  auto doc = document(r);
  for (auto& w : r.end_waiters) {
    if (w.deadline != wait_deadlines_.end()) wait_deadlines_.erase(w.deadline);
    w.answer(doc);
  }
  waiters_ -= r.end_waiters.size();
  metrics_.run_waiters(waiters_);
  r.end_waiters.clear();
}

std::chrono::steady_clock::time_point run_registry::answer_expired_waits() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
    auto [id, serial] = std::move(wait_deadlines_.begin()->second);
    wait_deadlines_.erase(wait_deadlines_.begin());
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    auto& waiters = it->second.end_waiters;
    auto w = std::find_if(waiters.begin(), waiters.end(), [s = serial](const end_waiter& e) { return e.serial == s; });
    if (w == waiters.end()) continue;
    auto answer = std::move(w->answer);
    waiters.erase(w);
    metrics_.run_waiters(--waiters_);
    answer(document(it->second));  // still running (or queued): the client watches or polls on
  }
  return wait_deadlines_.empty() ? std::chrono::steady_clock::time_point::max() : wait_deadlines_.begin()->first;
}

}  // namespace cohort::node
