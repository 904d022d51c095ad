// Failure policies without a runtime: when a failed branch decides a fan-out or DAG.
#include <gtest/gtest.h>

#include "run/run_events.hpp"
#include "workflow/failure_policy.hpp"

namespace cohort {
namespace {

workflow_node parent(failure_mode mode, int min_success = 0) {
  workflow_node n;
  n.kind = node_kind::fan_out;
  n.policy = mode;
  n.min_success = min_success;
  return n;
}

workflow_node branch_marked(int required) {
  workflow_node b;
  b.required = required;
  return b;
}

const result boom = failure(outcome::failed, "tool_error", "boom");

TEST(FailurePolicyUnit, FailFastEndsAtTheFirstRequiredFailureOnly) {
  auto node = parent(failure_mode::fail_fast);
  failure_policy p(node, "root", 3);
  EXPECT_FALSE(p.failed(0, "a", branch_marked(0), boom));  // optional: goes on
  auto decided = p.failed(1, "b", branch_marked(-1), boom);
  ASSERT_TRUE(decided);
  EXPECT_EQ(decided->status, outcome::failed);
  EXPECT_EQ(decided->error.kind, "tool_error");
  EXPECT_EQ(p.report()["failed"], 2);
}

TEST(FailurePolicyUnit, FailSoftGoesOnWhileMinSuccessCanBeReached) {
  auto node = parent(failure_mode::fail_soft, 2);
  failure_policy p(node, "root", 4);
  p.succeeded();
  EXPECT_FALSE(p.failed(1, "b", branch_marked(-1), boom));  // 1 + 2 still to come >= 2
  EXPECT_FALSE(p.failed(2, "c", branch_marked(-1), boom));  // 1 + 1 still to come: just enough
  auto decided = p.failed(3, "d", branch_marked(-1), boom);
  ASSERT_TRUE(decided);
  EXPECT_EQ(decided->error.kind, "too_few_successes");
  EXPECT_NE(decided->error.message.find("min_success 2"), std::string::npos) << decided->error.message;
}

TEST(FailurePolicyUnit, AllSettledReportsEveryFailureAndARequiredOneAtTheEnd) {
  auto node = parent(failure_mode::all_settled);
  failure_policy p(node, "root", 3);
  EXPECT_FALSE(p.failed(2, "c", branch_marked(-1), boom));
  EXPECT_FALSE(p.failed(0, "a", branch_marked(1), boom));  // required: only at the end
  p.succeeded();
  auto end = p.at_end();
  ASSERT_TRUE(end);
  EXPECT_EQ(end->error.kind, "required_failed");
  EXPECT_NE(end->error.message.find("root/a"), std::string::npos) << end->error.message;
  auto report = p.report();
  EXPECT_EQ(report["policy"], "all_settled");
  ASSERT_EQ(report["failures"].size(), 2u);
  EXPECT_EQ(report["failures"][0]["path"], "root/a");  // in branch order, not arrival order
  EXPECT_EQ(report["failures"][1]["path"], "root/c");
}

TEST(FailurePolicyUnit, NothingToReportWhenFailFastHadNoFailure) {
  auto node = parent(failure_mode::fail_fast);
  failure_policy p(node, "root", 1);
  p.succeeded();
  EXPECT_FALSE(p.at_end());
  EXPECT_TRUE(p.report().is_null());
}

}  // namespace
}  // namespace cohort
