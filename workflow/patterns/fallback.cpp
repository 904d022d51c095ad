// fallback: the primary, then each alternative in order, each only after the one
// before failed or timed out. The first success is the answer; if all fail, the error
// lists every attempt.
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class fallback_pattern : public pattern {
 public:
  fallback_pattern(const workflow_node& node, const task& t)
      : node_(node), path_(t.path), bindings_(bindings_of(t)) {}

  std::optional<branch> next() override {
    if (running_ || tried_ >= node_.children.size()) return std::nullopt;
    running_ = true;
    auto i = tried_++;
    return make_branch(i, node_.children[i], bindings_, node_.children[i]->label);
  }

  std::optional<result> settle(size_t index, result r) override {
    running_ = false;
    nlohmann::json attempt{{"alternative", node_.children[index]->label}, {"outcome", to_string(r.status)}};
    if (!r.ok()) attempt["error"] = r.error.message;
    attempts_.push_back(std::move(attempt));
    if (r.ok()) return success(std::move(r.output));
    errors_ += "\n    " + node_.children[index]->label + ": " + to_string(r.status) + " (" + r.error.message + ")";
    if (tried_ < node_.children.size()) return std::nullopt;
    return failure(r.status == outcome::timed_out ? outcome::timed_out : outcome::failed, r.error.kind,
                   path_ + ": every alternative failed:" + errors_);
  }

  result idle() override { return failure(outcome::failed, "invalid_input", path_ + ": no alternatives"); }
  nlohmann::json partial() const override { return nullptr; }
  std::vector<std::string> unstarted() const override { return labels_from(node_.children, tried_); }
  nlohmann::json report() override { return {{"attempts", attempts_}}; }

 private:
  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  size_t tried_ = 0;
  bool running_ = false;
  std::string errors_;
  nlohmann::json attempts_ = nlohmann::json::array();
};

}  // namespace

std::unique_ptr<pattern> make_fallback(const workflow_node& node, const task& t) {
  return std::make_unique<fallback_pattern>(node, t);
}

}  // namespace cohort
