// pipeline: steps one after another; each step sees the previous output as {{results}}.
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class pipeline_pattern : public pattern {
 public:
  pipeline_pattern(const workflow_node& node, const task& t) : node_(node), bindings_(bindings_of(t)) {}

  std::optional<branch> next() override {
    if (waiting_ || step_ >= node_.children.size()) return std::nullopt;
    waiting_ = true;
    auto extra = step_ > 0 ? nlohmann::json{{"results", outputs_.back()}} : nlohmann::json::object();
    return make_branch(step_, node_.children[step_], bindings_, node_.children[step_]->label, std::move(extra));
  }

  std::optional<result> settle(size_t, result r) override {
    waiting_ = false;
    if (!r.ok()) {
      failed_ = true;  // the step ran: it is not among the unstarted
      return passed_up(r);
    }
    outputs_.push_back(std::move(r.output));
    if (++step_ < node_.children.size()) return std::nullopt;
    return success(outputs_.back());
  }

  result idle() override { return failure(outcome::failed, "invalid_input", "a pipeline without steps"); }

  nlohmann::json partial() const override { return outputs_; }

  // The running step answered as the cancel crossed it: its output is the next one.
  bool keep_late(size_t index, result& r) override {
    if (!waiting_ || index != step_) return false;
    waiting_ = false;
    outputs_.push_back(std::move(r.output));
    ++step_;
    return true;
  }
  std::vector<std::string> unstarted() const override {
    return labels_from(node_.children, step_ + (waiting_ || failed_ ? 1 : 0));
  }

 private:
  const workflow_node& node_;
  binding_chain bindings_;
  size_t step_ = 0;
  bool waiting_ = false;
  bool failed_ = false;
  std::vector<nlohmann::json> outputs_;
};

}  // namespace

std::unique_ptr<pattern> make_pipeline(const workflow_node& node, const task& t) {
  return std::make_unique<pipeline_pattern>(node, t);
}

}  // namespace cohort
