#include "workflow/fan_in.hpp"

#include <stdexcept>

#include "run/run_events.hpp"
#include "workflow/aggregate.hpp"
#include "workflow/vote_tally.hpp"

namespace cohort {

fan_in::fan_in(const workflow_node& node, std::string path, binding_chain bindings)
    : node_(node), how_(node.aggregate), path_(std::move(path)), bindings_(std::move(bindings)) {}

std::optional<result> fan_in::start(std::vector<nlohmann::json> outputs, std::vector<std::string> names,
                                    std::vector<double> weights) {
  started_ = true;
  outputs_ = std::move(outputs);
  if (how_.kind == aggregation_kind::reduce) {
    acc_ = how_.reduce_initial;
    if (acc_.is_null() && !outputs_.empty()) acc_ = outputs_[fold_next_++];
    if (fold_next_ >= outputs_.size()) return success(acc_);
    return std::nullopt;
  }
  if (how_.kind == aggregation_kind::synthesize) return std::nullopt;
  if (how_.kind == aggregation_kind::by_id) {
    auto out = nlohmann::json::object();
    for (size_t i = 0; i < outputs_.size(); ++i) out[names[i]] = std::move(outputs_[i]);
    return success(std::move(out));
  }
  if (how_.kind == aggregation_kind::first) return success(outputs_.empty() ? nlohmann::json() : outputs_.front());
  if (how_.kind == aggregation_kind::vote) {
    vote_tally tally(node_.vote, std::move(names), std::move(weights));
    for (size_t i = 0; i < outputs_.size(); ++i) tally.cast(i, outputs_[i]);
    return tally.outcome_at(path_);
  }
  if (how_.kind == aggregation_kind::collect) return success(nlohmann::json(std::move(outputs_)));  // moved, not copied
  try {
    return success(aggregate(how_, outputs_));
  } catch (const std::invalid_argument& e) {
    return failure(outcome::failed, "invalid_output", path_ + ": " + e.what());
  }
}

std::optional<branch> fan_in::next_step(size_t index) {
  if (!started_ || step_running_) return std::nullopt;
  if (how_.kind == aggregation_kind::reduce && fold_next_ < outputs_.size()) {
    step_running_ = true;
    return make_branch(index, how_.agent, bindings_, "reduce[" + std::to_string(fold_next_) + "]",
                       {{"acc", acc_}, {"item", outputs_[fold_next_]}, {"index", fold_next_}, {"results", outputs_}});
  }
  if (how_.kind == aggregation_kind::synthesize && fold_next_ == 0) {
    step_running_ = true;
    fold_next_ = 1;
    return make_branch(index, how_.agent, bindings_, "synthesize", {{"results", outputs_}});
  }
  return std::nullopt;
}

std::optional<result> fan_in::step_done(result r) {
  step_running_ = false;
  if (!r.ok()) return passed_up(r);
  if (how_.kind == aggregation_kind::synthesize) return success(std::move(r.output));
  acc_ = std::move(r.output);
  if (++fold_next_ < outputs_.size()) return std::nullopt;
  return success(acc_);
}

}  // namespace cohort
