#include "workflow/failure_policy.hpp"

#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {

failure_policy::failure_policy(const workflow_node& node, std::string path, size_t count)
    : node_(node), path_(std::move(path)), count_(count) {}

void failure_policy::succeeded() {
  ++settled_;
  ++succeeded_;
}

bool failure_policy::fails_fast(const workflow_node& branch) const {
  bool required = branch.required == 1 || (branch.required == -1 && node_.policy == failure_mode::fail_fast);
  return required && node_.policy != failure_mode::all_settled;
}

std::optional<result> failure_policy::failed(size_t index, const std::string& label, const workflow_node& branch,
                                             const result& r) {
  ++settled_;
  const auto& entry = failures_[index] = nlohmann::json{{"path", path_ + "/" + label}, {"status", to_string(r.status)},
                                                        {"kind", r.error.kind}, {"message", r.error.message},
                                                        {"attempts", r.attempts}};
  if (fails_fast(branch)) return passed_up(r);
  if (branch.required == 1 && !required_failed_) required_failed_ = entry;
  if (node_.policy == failure_mode::fail_soft) {
    auto can_still = succeeded_ + (count_ - settled_);
    if (can_still < static_cast<size_t>(node_.min_success))
      return failure(outcome::failed, "too_few_successes",
                     path_ + ": " + std::to_string(failures_.size()) + " of " + std::to_string(count_) +
                         " branches failed, so fewer than min_success " + std::to_string(node_.min_success) +
                         " can succeed; last: " + r.error.message);
  }
  return std::nullopt;
}

std::optional<result> failure_policy::at_end() const {
  if (!required_failed_) return std::nullopt;
  return failure(outcome::failed, "required_failed", path_ + ": " + required_failed_->dump());
}

nlohmann::json failure_policy::report() const {
  if (failures_.empty() && node_.policy == failure_mode::fail_fast) return nullptr;
  auto list = nlohmann::json::array();
  for (auto& kv : failures_) list.push_back(kv.second);
  return {{"policy", to_string(node_.policy)},
          {"succeeded", succeeded_},
          {"failed", failures_.size()},
          {"success_rate", count_ > 0 ? static_cast<double>(succeeded_) / static_cast<double>(count_) : 1.0},
          {"failures", std::move(list)}};
}

}  // namespace cohort
