// plan: a planner agent writes the DAG at run time ({"nodes": [{"id", "role", "task",
// "depends_on"}]}); the plan is checked like a scenario DAG, and an invalid one is sent
// back to the planner with the problems as {{feedback}}, up to max_attempts. A valid
// plan runs as a child DAG supervisor (the same engine); the plan goes in the report.
#include "messages/input_limits.hpp"
#include "run/run_events.hpp"
#include "spec/plan_dag.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

// A plan written as text (maybe with prose or ``` fences around it): its JSON part.
nlohmann::json plan_json(const nlohmann::json& output) {
  if (!output.is_string()) return output;
  const auto& text = output.get_ref<const std::string&>();
  auto parsed = parse_untrusted_json_or_discarded(text);
  if (!parsed.is_discarded()) return parsed;
  auto b = text.find_first_of("{[");
  auto e = text.find_last_of("}]");
  if (b == std::string::npos || e == std::string::npos || e < b) return nullptr;
  parsed = parse_untrusted_json_or_discarded(std::string_view(text).substr(b, e - b + 1));
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

class plan_pattern : public pattern {
 public:
  plan_pattern(const workflow_node& node, const task& t)
      : node_(node), path_(t.path), bindings_(bindings_of(t)) {}

  std::optional<branch> next() override {
    if (running_) return std::nullopt;
    if (dag_ && !dag_started_) {
      running_ = dag_started_ = true;
      return make_branch(dag_index, dag_, bindings_, "dag");
    }
    if (dag_ || attempts_ >= node_.plan.max_attempts) return std::nullopt;
    running_ = true;
    ++attempts_;
    return make_branch(attempts_ - 1, node_.plan.planner, bindings_,
                       "planner[" + std::to_string(attempts_) + "]",
                       {{"feedback", feedback_}, {"attempt", attempts_}});
  }

  std::optional<result> settle(size_t index, result r) override {
    running_ = false;
    if (index == dag_index) {
      if (!r.ok()) return passed_up(r);
      dag_report_ = std::move(r.report);
      return success(std::move(r.output));
    }
    if (!r.ok()) return passed_up(r);
    auto plan = plan_json(r.output);
    std::vector<std::string> problems;
    dag_ = plan.is_null() ? nullptr : build_plan_dag(plan, node_, problems);
    if (plan.is_null()) problems.push_back("the planner's answer is not JSON");
    history_.push_back({{"attempt", attempts_}, {"plan", plan}, {"problems", problems}});
    if (dag_) {
      plan_ = std::move(plan);
      return std::nullopt;
    }
    feedback_ = "Your previous plan was invalid:";
    for (auto& p : problems) feedback_ += "\n- " + p;
    if (attempts_ < node_.plan.max_attempts) return std::nullopt;
    return failure(outcome::failed, "invalid_plan",
                   path_ + ": no valid plan after " + std::to_string(attempts_) + " attempts; the last: " +
                       feedback_.substr(feedback_.find('\n') + 1));
  }

  result idle() override { return failure(outcome::failed, "invalid_plan", path_ + ": no plan"); }
  nlohmann::json partial() const override { return nullptr; }
  std::vector<std::string> unstarted() const override { return {}; }

  nlohmann::json report() override {
    nlohmann::json r{{"plan", plan_}, {"attempts", history_}};
    if (!dag_report_.is_null()) r["dag"] = dag_report_;
    return r;
  }

 private:
  static constexpr size_t dag_index = 1u << 20;  // after every planner attempt

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  int attempts_ = 0;
  bool running_ = false;
  bool dag_started_ = false;
  std::string feedback_;
  node_ptr dag_;
  nlohmann::json plan_;
  nlohmann::json history_ = nlohmann::json::array();
  nlohmann::json dag_report_;
};

}  // namespace

std::unique_ptr<pattern> make_plan(const workflow_node& node, const task& t) {
  return std::make_unique<plan_pattern>(node, t);
}

}  // namespace cohort
