// A branch that succeeds as the cancel crosses its answer (a deadline passed, the
// run was cancelled): the pattern keeps its output in the partial result, or the
// engine counts it cancelled. Either way, counted means present. These drive the
// patterns' next/settle/keep_late directly, without actors, so the crossing is exact.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run/run_events.hpp"
#include "spec/scenario.hpp"
#include "workflow/pattern.hpp"

using nlohmann::json;

namespace {

cohort::node_ptr leaf(const std::string& label) {
  auto n = std::make_shared<cohort::workflow_node>();
  n->kind = cohort::node_kind::agent;
  n->label = label;
  return n;
}

cohort::task root_task() {
  cohort::task t;
  t.path = "root";
  return t;
}

}  // namespace

TEST(LateResults, APipelineKeepsTheStepThatAnsweredAsItWasCancelled) {
  cohort::workflow_node node;
  node.kind = cohort::node_kind::pipeline;
  node.children = {leaf("draft"), leaf("edit"), leaf("publish")};
  auto t = root_task();
  auto p = cohort::make_pipeline(node, t);
  ASSERT_TRUE(p->next());
  EXPECT_FALSE(p->settle(0, cohort::success("drafted")));
  auto step = p->next();
  ASSERT_TRUE(step);
  EXPECT_EQ(step->index, 1u);
  // The run is cancelled now; then step 1's success arrives.
  auto late = cohort::success("edited");
  EXPECT_TRUE(p->keep_late(1, late));
  EXPECT_EQ(p->partial(), json::array({"drafted", "edited"}));
  auto stale = cohort::success("twice");
  EXPECT_FALSE(p->keep_late(1, stale)) << "one step, one output";
  EXPECT_FALSE(p->keep_late(2, stale)) << "never started";
}

TEST(LateResults, ADagKeepsANodeThatAnsweredAsItWasCancelled) {
  cohort::workflow_node node;
  node.kind = cohort::node_kind::dag;
  node.children = {leaf("a"), leaf("b"), leaf("c")};
  node.ids = {"a", "b", "c"};
  node.deps = {{}, {}, {0, 1}};
  auto t = root_task();
  auto d = cohort::make_dag(node, t);
  auto first = d->next(), second = d->next();
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(d->settle(first->index, cohort::success("A")));
  auto late = cohort::success("B");
  EXPECT_TRUE(d->keep_late(second->index, late));
  EXPECT_EQ(d->partial(), (json{{"a", "A"}, {"b", "B"}}));
  auto again = cohort::success("A2");
  EXPECT_FALSE(d->keep_late(first->index, again)) << "already settled: its output stays";
}

// Under "first" the winner is the output: a later success is not in it, so the
// pattern must not claim to keep it (the engine then counts it cancelled).
TEST(LateResults, AFanOutUnderFirstKeepsOnlyItsWinner) {
  cohort::workflow_node node;
  node.kind = cohort::node_kind::fan_out;
  node.children = {leaf("x"), leaf("y")};
  node.aggregate.kind = cohort::aggregation_kind::first;
  auto t = root_task();
  cohort::run_context ctx;
  cohort::result error;
  auto f = cohort::make_fan_out(node, t, ctx, error);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->next() && f->next());
  auto won = f->settle(0, cohort::success("X"));
  ASSERT_TRUE(won && won->ok());
  EXPECT_EQ(won->output, "X");
  auto late = cohort::success("Y");
  EXPECT_FALSE(f->keep_late(1, late));
}
