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
#include <vector>

#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/run_context.hpp"

namespace cohort {

struct branch {
  size_t index = 0;                          // the pattern's own numbering
  std::shared_ptr<const workflow_node> node; // what runs
  nlohmann::json bindings;                   // the child's own bindings (item, index, results ...)
  binding_chain inherited;                   // and the pattern's, shared by all its branches
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

  // A branch succeeded after the outcome was decided (a cancel crossed its answer).
  // True when its output is kept in partial(); otherwise the engine counts it cancelled,
  // so every branch counted as succeeded is in the output.
  virtual bool keep_late(size_t /*index*/, result& /*r*/) { return false; }

  // The labels of the branches not started yet: they end `cancelled`, each with an
  // event, when the pattern stops early.
  virtual std::vector<std::string> unstarted() const = 0;

  // What the pattern has to say besides its output (a DAG's layers and critical path,
  // a race's runner outcomes, a plan): the result's `report`. Null when nothing.
  // Asked once, when the pattern has ended: it may move its state out.
  virtual nlohmann::json report() { return nullptr; }
};

// The pattern for a supervisor node; null and a failed result in `error` (bad input)
// when it cannot start.
std::unique_ptr<pattern> make_pattern(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error);

// One per pattern file.
std::unique_ptr<pattern> make_fan_out(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error);
std::unique_ptr<pattern> make_pipeline(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_race(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_vote(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_dag(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_plan(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_tree(const workflow_node& node, const task& t, const run_context& ctx,
                                   result& error);
std::unique_ptr<pattern> make_fallback(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_loop(const workflow_node& node, const task& t);
std::unique_ptr<pattern> make_simulation(const workflow_node& node, const task& t, const run_context& ctx,
                                         result& error);
std::unique_ptr<pattern> make_tool_loop(const workflow_node& node, const task& t, const run_context& ctx);

// A branch running `node` that binds `extra` over the pattern's `inherited` names.
branch make_branch(size_t index, node_ptr node, const binding_chain& inherited, std::string label,
                   nlohmann::json extra = nlohmann::json::object());

// What a pattern's branches inherit: the task's own bindings over its inherited ones,
// made once per pattern, shared by every branch.
binding_chain bindings_of(const task& t);

result success(nlohmann::json output);

// The labels of children[from, end): the branches a pattern has not started.
std::vector<std::string> labels_from(const std::vector<node_ptr>& children, size_t from);

// A failure passed up unchanged: the failing leaf already named its path.
result passed_up(const result& r);

}  // namespace cohort
