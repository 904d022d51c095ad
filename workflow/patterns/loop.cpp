// loop: run the body, check its output (fixed checks, then the judge agent), and run
// it again with {{previous}} and {{feedback}} until it passes or max_iterations is
// reached (a writer/critic refinement). When nothing passes: an error, or the last
// output with on_exhausted "last". The report has every iteration's verdict.
#include "agents/acceptance_check.hpp"
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class loop_pattern : public pattern {
 public:
  loop_pattern(const workflow_node& node, const task& t) : node_(node), path_(t.path), bindings_(bindings_of(t)) {}

  std::optional<branch> next() override {
    if (running_ || done_) return std::nullopt;
    running_ = true;
    if (judging_)
      return make_branch(judge_index, node_.accept.judge, bindings_, "judge[" + std::to_string(iteration_) + "]",
                         {{"candidate", previous_}, {"iteration", iteration_}});
    ++iteration_;
    return make_branch(iteration_, node_.each, bindings_, node_.each->label + "[" + std::to_string(iteration_) + "]",
                       {{"iteration", iteration_}, {"previous", previous_}, {"feedback", feedback_}});
  }

  std::optional<result> settle(size_t index, result r) override {
    running_ = false;
    if (!r.ok()) return passed_up(r);
    if (index == judge_index) {
      judging_ = false;
      auto v = read_verdict(r.output);
      return verdict_reached(v.pass, v.feedback);
    }
    previous_ = std::move(r.output);
    auto why = rejection(node_.accept, previous_);
    if (!why.empty()) return verdict_reached(false, why);
    if (node_.accept.judge) {
      judging_ = true;
      return std::nullopt;
    }
    return verdict_reached(true, "");
  }

  result idle() override { return failure(outcome::failed, "invalid_input", path_ + ": the loop did not run"); }
  nlohmann::json partial() const override { return previous_; }
  std::vector<std::string> unstarted() const override { return {}; }
  nlohmann::json report() override {
    return {{"iterations", iteration_}, {"accepted", accepted_}, {"history", history_}};
  }

 private:
  static constexpr size_t judge_index = 0;  // iterations are numbered from 1

  std::optional<result> verdict_reached(bool pass, const std::string& feedback) {
    history_.push_back({{"iteration", iteration_}, {"accepted", pass}, {"feedback", feedback}});
    if (pass) {
      accepted_ = done_ = true;
      return success(previous_);
    }
    feedback_ = feedback;
    if (iteration_ < node_.max_iterations) return std::nullopt;
    done_ = true;
    if (node_.keep_last) return success(previous_);
    return failure(outcome::failed, "not_accepted",
                   path_ + ": no result accepted after " + std::to_string(iteration_) + " iterations; last feedback: " +
                       feedback.substr(0, 300));
  }

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  int iteration_ = 0;
  bool running_ = false;
  bool judging_ = false;
  bool done_ = false;
  bool accepted_ = false;
  nlohmann::json previous_ = "";
  std::string feedback_;
  nlohmann::json history_ = nlohmann::json::array();
};

}  // namespace

std::unique_ptr<pattern> make_loop(const workflow_node& node, const task& t) {
  return std::make_unique<loop_pattern>(node, t);
}

}  // namespace cohort
