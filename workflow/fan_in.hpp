#pragma once
// Fan-in for any multi-branch pattern: once every branch output is in, combine them.
// collect/join/merge/first/vote/by_id are computed at once; reduce (a fold, one agent
// step per output) and synthesize (one agent writes the answer from all outputs) run
// agent steps, which the owning pattern hands to the engine like any other branch.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "workflow/pattern.hpp"

namespace cohort {

class fan_in {
 public:
  fan_in(const workflow_node& node, std::string path, binding_chain bindings);

  // All outputs are in, in branch order; `names` label them (vote: the voters; by_id:
  // the ids), `weights` are the voters'. The combined value, or nothing while agent
  // steps are still to run (take them from next_step).
  std::optional<result> start(std::vector<nlohmann::json> outputs, std::vector<std::string> names,
                              std::vector<double> weights);

  // The next agent step, numbered `index`, if one may start now.
  std::optional<branch> next_step(size_t index);

  // An agent step ended. The combined value once the last one is done.
  std::optional<result> step_done(result r);


 private:
  const workflow_node& node_;
  const aggregation& how_;
  std::string path_;
  binding_chain bindings_;
  std::vector<nlohmann::json> outputs_;
  bool started_ = false;
  bool step_running_ = false;
  size_t fold_next_ = 0;  // reduce: the next output to fold in
  nlohmann::json acc_;
};

}  // namespace cohort
