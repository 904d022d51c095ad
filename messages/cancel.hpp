#pragma once
// cancel: stop now. A supervisor forwards it to its children first; every agent that
// receives it answers its pending task with a `cancelled` result and quits.
#include <optional>
#include <string>
#include <utility>

#include <caf/meta/type_name.hpp>

namespace cohort {

struct cancel {
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel& x) {
  return f(caf::meta::type_name("cohort.cancel"), x.reason);
}

// A cancel is sent with high priority, so it can overtake the task it is for. An agent
// that has not taken a task yet keeps such a cancel and ends that task at once when it
// comes; after its first task, a cancel while idle is a late one.
class early_cancel {
 public:
  // A cancel that found no task in hand.
  void idle_cancel(const cancel& c) {
    if (!started_) reason_ = c.reason;
  }

  // At a task's start: the reason it is already cancelled for, if a cancel came first.
  std::optional<std::string> take_at_start() {
    started_ = true;
    return std::exchange(reason_, std::nullopt);
  }

  bool started() const { return started_; }

 private:
  bool started_ = false;
  std::optional<std::string> reason_;
};

}  // namespace cohort
