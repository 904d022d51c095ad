// pipeline: steps one after another; each step sees the previous output as {{results}}.
#include "actors/agent_support.hpp"
#include "actors/pattern.hpp"

namespace cohort {
namespace {

class pipeline_pattern : public pattern {
 public:
  pipeline_pattern(const workflow_node& node, const task& t)
      : node_(node), bindings_(t.bindings.is_object() ? t.bindings : nlohmann::json::object()) {}

  std::optional<branch> next() override {
    if (waiting_ || step_ >= node_.children.size()) return std::nullopt;
    waiting_ = true;
    branch b;
    b.index = step_;
    b.node = node_.children[step_];
    b.bindings = bindings_;
    if (step_ > 0) b.bindings["results"] = outputs_.back();
    b.label = b.node->label;
    return b;
  }

  std::optional<result> settle(size_t, result r) override {
    waiting_ = false;
    if (!r.ok()) {
      return failure(r.status, r.error.kind, r.error.message);  // names the failing path
    }
    outputs_.push_back(std::move(r.output));
    if (++step_ < node_.children.size()) return std::nullopt;
    result done;
    done.output = outputs_.back();
    return done;
  }

  result idle() override {
    return failure(outcome::failed, "invalid_input", "a pipeline without steps");
  }

  nlohmann::json partial() const override { return outputs_; }
  size_t unstarted() const override { return node_.children.size() - step_ - (waiting_ ? 1 : 0); }

 private:
  const workflow_node& node_;
  nlohmann::json bindings_;
  size_t step_ = 0;
  bool waiting_ = false;
  std::vector<nlohmann::json> outputs_;
};

}  // namespace

std::unique_ptr<pattern> make_pipeline(const workflow_node& node, const task& t) {
  return std::make_unique<pipeline_pattern>(node, t);
}

}  // namespace cohort
