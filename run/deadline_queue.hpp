#pragma once
// The timeouts of many waiters of one actor on one timer. Deadlines sit in a min-heap;
// the actor keeps one delayed "wake" message pending, for the earliest deadline (0.17's
// delayed_send cannot be cancelled, so one per waiter would leave thousands of stale
// timers behind a 10,000-party barrier). Settled waiters are not removed from the heap:
// the owner says which ids are still waiting when they surface, and the heap is rebuilt
// when it is mostly stale.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <caf/atom.hpp>

namespace cohort {

class deadline_queue {
 public:
  using clock = std::chrono::steady_clock;

  // Nanoseconds on the steady clock: what a wake message carries.
  static int64_t ticks(clock::time_point t) { return t.time_since_epoch().count(); }

  // Adds a deadline for waiter `id`. Returns the time to arm a wake message for, when
  // it is earlier than the one pending.
  std::optional<clock::time_point> add(clock::time_point when, uint64_t id) {
    heap_.emplace_back(ticks(when), id);
    std::push_heap(heap_.begin(), heap_.end(), later);
    return want_timer();
  }

  // The wake message armed for `armed_for` arrived: calls `on_due(id)` for each waiter
  // whose deadline has passed (possibly settled already) and returns the time to arm
  // the next wake message for, if one is needed.
  template <class OnDue>
  std::optional<clock::time_point> wake(int64_t armed_for, OnDue&& on_due) {
    if (armed_for == armed_) armed_ = 0;  // else an earlier timer replaced it: still pending
    auto now = ticks(clock::now());
    while (!heap_.empty() && heap_.front().first <= now) {
      auto id = heap_.front().second;
      std::pop_heap(heap_.begin(), heap_.end(), later);
      heap_.pop_back();
      on_due(id);
    }
    return want_timer();
  }

  // Drops the entries of settled waiters once they are most of the heap.
  template <class IsWaiting>
  void compact(size_t waiting, IsWaiting&& is_waiting) {
    if (heap_.size() < 64 || heap_.size() < 4 * waiting) return;
    heap_.erase(std::remove_if(heap_.begin(), heap_.end(), [&](const entry& e) { return !is_waiting(e.second); }),
                heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), later);
  }

  size_t size() const { return heap_.size(); }

 private:
  using entry = std::pair<int64_t, uint64_t>;  // (deadline ticks, waiter id)

  // The heap's order: the earliest deadline at the front.
  static bool later(const entry& a, const entry& b) { return a.first > b.first; }

  std::optional<clock::time_point> want_timer() {
    if (heap_.empty()) return std::nullopt;
    auto next = heap_.front().first;
    if (armed_ != 0 && armed_ <= next) return std::nullopt;
    armed_ = next;
    return clock::time_point(clock::duration(next));
  }

  std::vector<entry> heap_;
  int64_t armed_ = 0;  // deadline the pending wake message is for; 0: none pending
};

using wake_atom = caf::atom_constant<caf::atom("wake")>;

// Sends the actor its (wake_atom, ticks) message at `when`, if add() or wake() asked.
template <class Self>
void arm_wake(Self* self, std::optional<deadline_queue::clock::time_point> when) {
  if (!when) return;
  auto delay = std::max(deadline_queue::clock::duration::zero(), *when - deadline_queue::clock::now());
  self->delayed_send(self, delay, wake_atom::value, deadline_queue::ticks(*when));
}

}  // namespace cohort
