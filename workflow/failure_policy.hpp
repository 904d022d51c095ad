#pragma once
// What a multi-branch pattern (fan_out, dag) does when branches fail:
//   fail_fast   the first failure of a required branch (all, unless marked optional) fails it;
//   fail_soft   goes on while min_success can still be reached, fails as soon as it cannot;
//   all_settled goes on to the end; a branch marked required that failed fails it then.
// It also keeps the failures for the pattern's report.
#include <map>
#include <optional>
#include <string>

#include "messages/result.hpp"
#include "spec/scenario.hpp"

namespace cohort {

class failure_policy {
 public:
  failure_policy(const workflow_node& node, std::string path, size_t count);

  void succeeded();

  // A branch failed (or could not run); the pattern's result when that decides it.
  std::optional<result> failed(size_t index, const std::string& label, const workflow_node& branch, const result& r);

  // Every branch has settled: the failure of a required branch under all_settled, if any.
  std::optional<result> at_end() const;

  nlohmann::json report() const;  // null when all went well under fail_fast

 private:
  // Would a failure of this branch end the pattern at once?
  bool fails_fast(const workflow_node& branch) const;

  const workflow_node& node_;
  std::string path_;
  size_t count_;
  size_t settled_ = 0;
  size_t succeeded_ = 0;
  std::map<size_t, nlohmann::json> failures_;      // by branch index: reported in branch order
  std::optional<nlohmann::json> required_failed_;  // all_settled: the first required branch that failed
};

}  // namespace cohort
