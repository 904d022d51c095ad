// fan_out: one branch per agent, per sub-workflow, or per item of a list; fan-in by
// any aggregation (fan_in.hpp) of what succeeded. Failures follow the policy
// (failure_policy.hpp), except under "first", where the first success wins and only
// all branches failing fails it.
#include "run/run_events.hpp"
#include "spec/template.hpp"
#include "workflow/aggregate.hpp"
#include "workflow/failure_policy.hpp"
#include "workflow/fan_in.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class fan_out_pattern : public pattern {
 public:
  // `items` (a fan-out over a list) points into the task's bindings or the run input,
  // both alive as long as the supervisor: a 100,000-item list is not copied.
  fan_out_pattern(const workflow_node& node, const task& t, const nlohmann::json* items)
      : node_(node), path_(t.path), bindings_(bindings_of(t)), items_(items),
        combine_(node, t.path, bindings_), count_(node.each ? items_->size() : node.children.size()),
        policy_(node, t.path, count_) {
    outputs_.resize(count_);
    ok_.resize(count_);
  }

  std::optional<branch> next() override {
    if (started_ < count_) return map_branch(started_++);
    if (combining_) return combine_.next_step(count_ + steps_++);
    return std::nullopt;
  }

  std::optional<result> settle(size_t index, result r) override {
    if (index >= count_) return combine_.step_done(std::move(r));
    if (node_.aggregate.kind == aggregation_kind::first) return first_settled(std::move(r));
    ++settled_;
    if (!r.ok()) {
      if (auto verdict = policy_.failed(index, label(index), branch_node(index), r)) return verdict;
    } else {
      outputs_[index] = std::move(r.output);
      ok_[index] = true;
      policy_.succeeded();
    }
    if (settled_ < count_) return std::nullopt;
    if (auto verdict = policy_.at_end()) return verdict;
    return combine();
  }

  result idle() override {
    auto r = combine();
    return r ? std::move(*r) : failure(outcome::failed, "invalid_input", path_ + ": nothing to combine");
  }

  nlohmann::json report() override { return policy_.report(); }

  // Under "first" the winner alone is the output: a later success is not kept.
  bool keep_late(size_t index, result& r) override {
    if (index >= count_ || combining_ || node_.aggregate.kind == aggregation_kind::first) return false;
    outputs_[index] = std::move(r.output);
    ok_[index] = true;
    return true;
  }

  // What succeeded, in the shape the aggregation gives (joined text, a merged object);
  // a collect keeps each output at its branch's place, null where none succeeded.
  nlohmann::json partial() const override {
    const auto& how = node_.aggregate;
    if (combining_ || (how.kind != aggregation_kind::join && how.kind != aggregation_kind::merge)) return outputs_;  // combining: moved out
    std::vector<nlohmann::json> succeeded;
    for (size_t i = 0; i < count_; ++i)
      if (ok_[i]) succeeded.push_back(outputs_[i]);
    try {
      return aggregate(how, succeeded);
    } catch (const std::exception&) {  // outputs that do not merge (or not UTF-8 text): as they are
      return outputs_;
    }
  }
  std::vector<std::string> unstarted() const override {
    std::vector<std::string> labels;
    for (auto i = started_; i < count_; ++i) labels.push_back(label(i));
    return labels;
  }

 private:
  std::string label(size_t i) const {
    return node_.each ? node_.each->label + "[" + std::to_string(i) + "]" : node_.children[i]->label;
  }

  const workflow_node& branch_node(size_t i) const { return node_.each ? *node_.each : *node_.children[i]; }

  // Combines what succeeded, in branch order (failed optional branches are left out).
  std::optional<result> combine() {
    combining_ = true;
    std::vector<nlohmann::json> outputs;
    std::vector<std::string> names;
    std::vector<double> weights;
    bool labelled = node_.aggregate.kind == aggregation_kind::vote;  // only a vote needs to know who said what
    for (size_t i = 0; i < count_; ++i) {
      if (!ok_[i]) continue;
      outputs.push_back(std::move(outputs_[i]));
      if (!labelled) continue;
      names.push_back(label(i));
      weights.push_back(branch_node(i).weight);
    }
    std::vector<nlohmann::json>().swap(outputs_);  // all moved out: free it now
    return combine_.start(std::move(outputs), std::move(names), std::move(weights));
  }

  std::optional<result> first_settled(result r) {
    if (r.ok()) return success(std::move(r.output));
    errors_ += (errors_.empty() ? "" : "; ") + r.error.message;
    if (++settled_ < count_) return std::nullopt;
    return failure(outcome::failed, "all_failed", path_ + ": every branch failed: " + errors_);
  }

  branch map_branch(size_t i) {
    if (!node_.each) return make_branch(i, node_.children[i], bindings_, node_.children[i]->label);
    // The hot path of a 100,000-item fan-out: bindings set in place, no temporary object.
    auto b = make_branch(i, node_.each, bindings_, node_.each->label + "[" + std::to_string(i) + "]");
    b.bindings["item"] = (*items_)[i];
    b.bindings["index"] = i;
    return b;
  }

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  const nlohmann::json* items_;
  fan_in combine_;
  size_t count_;
  failure_policy policy_;
  size_t started_ = 0;
  size_t settled_ = 0;
  size_t steps_ = 0;
  bool combining_ = false;
  std::vector<nlohmann::json> outputs_;
  std::vector<bool> ok_;
  std::string errors_;
};

}  // namespace

std::unique_ptr<pattern> make_fan_out(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error) {
  const nlohmann::json* items = nullptr;
  if (node.each) {
    auto scope = make_scope(ctx, t);
    try {
      items = scope.find(template_refs("{{" + node.over + "}}")[0].segments);
    } catch (const template_error&) {
    }
    if (!items || !items->is_array()) {
      error = failure(outcome::failed, "invalid_input",
                      node.json_path + ".over: \"" + node.over + "\" " +
                          (items ? std::string("is ") + items->type_name() + ", not an array"
                                 : std::string("does not resolve")));
      return nullptr;
    }
  }
  return std::make_unique<fan_out_pattern>(node, t, items);
}

}  // namespace cohort
