// fan_out: one branch per agent, per sub-workflow, or per item of a list; fan-in by
// collect, join, merge, or reduce (a fold by an agent, one step after another).
// The first failed branch fails the fan-out (the engine cancels the others).
#include "actors/aggregate.hpp"
#include "actors/agent_support.hpp"
#include "actors/pattern.hpp"
#include "runtime/src/template.hpp"

namespace cohort {
namespace {

class fan_out_pattern : public pattern {
 public:
  fan_out_pattern(const workflow_node& node, const task& t, nlohmann::json items)
      : node_(node), path_(t.path), bindings_(t.bindings.is_object() ? t.bindings : nlohmann::json::object()),
        items_(std::move(items)) {
    count_ = node.each ? items_.size() : node.children.size();
    outputs_.resize(count_);
    if (node.aggregate.kind == "reduce" && !node.aggregate.reduce_initial.is_null())
      acc_ = node.aggregate.reduce_initial;
    reducer_ = std::make_shared<workflow_node>();
    reducer_->agent = node.aggregate.reduce_agent;
    reducer_->label = node.aggregate.reduce_agent;
    reducer_->json_path = node.json_path + ".aggregate";
  }

  std::optional<branch> next() override {
    if (started_ < count_) return map_branch(started_++);
    if (reducing_ && !fold_running_ && fold_next_ < count_) return fold_branch();
    return std::nullopt;
  }

  std::optional<result> settle(size_t index, result r) override {
    if (!r.ok()) return fail(r);
    if (index >= count_) return fold_done(std::move(r.output));
    outputs_[index] = std::move(r.output);
    if (++settled_ < count_) return std::nullopt;
    if (node_.aggregate.kind == "reduce") {
      reducing_ = true;
      if (acc_.is_null() && count_ > 0) acc_ = outputs_[fold_next_++];
      if (fold_next_ < count_) return std::nullopt;
      return success(acc_);
    }
    try {
      return success(aggregate(node_.aggregate, outputs_));
    } catch (const std::invalid_argument& e) {
      return failure(outcome::failed, "invalid_output", path_ + ": " + e.what());
    }
  }

  result idle() override {
    if (node_.aggregate.kind == "reduce") return success(acc_);
    return success(aggregate(node_.aggregate, outputs_));
  }

  nlohmann::json partial() const override { return outputs_; }
  size_t unstarted() const override { return count_ - started_; }

 private:
  branch map_branch(size_t i) {
    branch b;
    b.index = i;
    b.bindings = bindings_;
    if (node_.each) {
      b.node = node_.each;
      b.bindings["item"] = items_[i];
      b.bindings["index"] = i;
      b.label = node_.each->label + "[" + std::to_string(i) + "]";
    } else {
      b.node = node_.children[i];
      b.label = b.node->label;
    }
    return b;
  }

  branch fold_branch() {
    fold_running_ = true;
    branch b;
    b.index = count_ + fold_next_;  // fold steps are numbered after the map branches
    b.node = reducer_;
    b.bindings = bindings_;
    b.bindings["acc"] = acc_;
    b.bindings["item"] = outputs_[fold_next_];
    b.bindings["index"] = fold_next_;
    b.bindings["results"] = outputs_;
    b.label = "reduce[" + std::to_string(fold_next_) + "]";
    return b;
  }

  std::optional<result> fold_done(nlohmann::json acc) {
    acc_ = std::move(acc);
    fold_running_ = false;
    if (++fold_next_ < count_) return std::nullopt;
    return success(acc_);
  }

  // The failing leaf already named its full path in the message.
  static std::optional<result> fail(const result& r) {
    return failure(r.status, r.error.kind, r.error.message);
  }

  static result success(nlohmann::json out) {
    result r;
    r.output = std::move(out);
    return r;
  }

  const workflow_node& node_;
  std::string path_;
  nlohmann::json bindings_;
  nlohmann::json items_;
  std::shared_ptr<workflow_node> reducer_;
  size_t count_ = 0;
  size_t started_ = 0;
  size_t settled_ = 0;
  std::vector<nlohmann::json> outputs_;
  bool reducing_ = false;
  bool fold_running_ = false;
  size_t fold_next_ = 0;
  nlohmann::json acc_;
};

}  // namespace

std::unique_ptr<pattern> make_fan_out(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error) {
  nlohmann::json items;
  if (node.each) {
    const nlohmann::json* found = nullptr;
    auto scope = make_scope(ctx, t);
    try {
      found = scope.find(template_refs("{{" + node.over + "}}")[0].segments);
    } catch (const template_error&) {
    }
    if (!found || !found->is_array()) {
      error = failure(outcome::failed, "invalid_input",
                      node.json_path + ".over: \"" + node.over + "\" " +
                          (found ? std::string("is ") + found->type_name() + ", not an array"
                                 : std::string("does not resolve")));
      return nullptr;
    }
    items = *found;
  }
  return std::make_unique<fan_out_pattern>(node, t, std::move(items));
}

}  // namespace cohort
