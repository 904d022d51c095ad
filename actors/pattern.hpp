#pragma once
// A pattern is what makes one supervisor different from another. The engine
// (supervisor.cpp) does the rest: spawning, concurrency limits, timeouts,
// cancellation, events and stats. A pattern supplies
//   1. what to dispatch (next),
//   2. when it is finished (settle returns the final result),
//   3. how results combine (inside settle, usually through aggregate.hpp).
#include <memory>
#include <optional>
#include <string>

#include "actors/run_context.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"

namespace cohort {

struct branch {
  size_t index = 0;                          // the pattern's own numbering
  std::shared_ptr<const workflow_node> node; // what runs
  nlohmann::json bindings;                   // the child's task bindings
  std::string label;                         // the child's node path segment
};

class pattern {
 public:
  virtual ~pattern() = default;

  // The next branch that may start now, or nothing (all started, or waiting on results).
  virtual std::optional<branch> next() = 0;

  // A branch ended in `r` (any final state). Returns the pattern's result once it is done.
  virtual std::optional<result> settle(size_t index, result r) = 0;

  // Called when nothing runs and nothing can start (an empty list of items): the
  // pattern's result for that case.
  virtual result idle() = 0;

  // What has finished so far, reported when the pattern is cancelled.
  virtual nlohmann::json partial() const = 0;

  // Branches not started yet (they end `cancelled` when the pattern stops early).
  virtual size_t unstarted() const = 0;
};

// The pattern for a supervisor node; a failed result (bad input) when it cannot start.
std::unique_ptr<pattern> make_fan_out(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error);
std::unique_ptr<pattern> make_pipeline(const workflow_node& node, const task& t);

}  // namespace cohort
