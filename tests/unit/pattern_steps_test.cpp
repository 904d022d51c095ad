// Patterns' next/settle driven by hand, without an actor or a runtime: what each
// dispatches, when it is finished, what it reports.
#include <gtest/gtest.h>

#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;

node_ptr leaf(std::string label) {
  auto n = std::make_shared<workflow_node>();
  n->kind = node_kind::agent;
  n->label = std::move(label);
  return n;
}

workflow_node parent(node_kind kind, std::vector<std::string> labels) {
  workflow_node n;
  n.kind = kind;
  for (auto& l : labels) n.children.push_back(leaf(l));
  return n;
}

task root_task() {
  task t;
  t.path = "root";
  t.bindings = json{{"topic", "actors"}};
  return t;
}

result ok(json output) { return success(std::move(output)); }

TEST(PatternStepsUnit, PipelineRunsOneStepAtATimeAndHandsOnTheOutput) {
  auto node = parent(node_kind::pipeline, {"draft", "edit", "title"});
  auto p = make_pipeline(node, root_task());
  auto first = p->next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->index, 0u);
  EXPECT_EQ(first->label, "draft");
  EXPECT_FALSE(p->next());  // waits for the step that runs
  EXPECT_EQ(p->unstarted(), (std::vector<std::string>{"edit", "title"}));

  EXPECT_FALSE(p->settle(0, ok("v1")));
  auto second = p->next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->label, "edit");
  EXPECT_EQ(second->bindings["results"], "v1");  // the previous output, as {{results}}
  EXPECT_FALSE(p->settle(1, ok("v2")));
  auto third = p->next();
  ASSERT_TRUE(third);
  auto done = p->settle(2, ok("Final"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->output, "Final");
  EXPECT_EQ(p->partial(), json::parse(R"(["v1", "v2", "Final"])"));
}

TEST(PatternStepsUnit, PipelineStopsAtAFailedStepAndPassesItUp) {
  auto node = parent(node_kind::pipeline, {"a", "b", "c"});
  auto p = make_pipeline(node, root_task());
  p->next();
  p->settle(0, ok(1));
  p->next();
  auto done = p->settle(1, failure(outcome::timed_out, "timeout", "root/b: too slow"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, outcome::timed_out);
  EXPECT_EQ(done->error.message, "root/b: too slow");  // unchanged: the leaf named its path
  EXPECT_EQ(p->unstarted(), (std::vector<std::string>{"c"}));
  EXPECT_EQ(p->partial(), json::parse("[1]"));
}

TEST(PatternStepsUnit, FallbackTriesTheNextOnlyAfterAFailure) {
  auto node = parent(node_kind::fallback, {"primary", "backup", "last"});
  auto p = make_fallback(node, root_task());
  ASSERT_EQ(p->next()->label, "primary");
  EXPECT_FALSE(p->next());
  EXPECT_FALSE(p->settle(0, failure(outcome::failed, "server_error", "500")));
  ASSERT_EQ(p->next()->label, "backup");
  auto done = p->settle(1, ok("saved"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->output, "saved");
  EXPECT_EQ(p->unstarted(), (std::vector<std::string>{"last"}));
  auto attempts = p->report()["attempts"];
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0]["outcome"], "failed");
  EXPECT_EQ(attempts[1]["outcome"], "succeeded");
}

TEST(PatternStepsUnit, FallbackWhereEveryAlternativeFailsListsThemAll) {
  auto node = parent(node_kind::fallback, {"a", "b"});
  auto p = make_fallback(node, root_task());
  p->next();
  p->settle(0, failure(outcome::failed, "server_error", "500 from a"));
  p->next();
  auto done = p->settle(1, failure(outcome::timed_out, "timeout", "b took too long"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, outcome::timed_out);
  EXPECT_NE(done->error.message.find("every alternative failed"), std::string::npos);
  EXPECT_NE(done->error.message.find("500 from a"), std::string::npos) << done->error.message;
  EXPECT_NE(done->error.message.find("b took too long"), std::string::npos) << done->error.message;
}

TEST(PatternStepsUnit, EmptyPatternsSayWhyWhenIdle) {
  auto none = parent(node_kind::pipeline, {});
  auto p = make_pipeline(none, root_task());
  EXPECT_FALSE(p->next());
  EXPECT_EQ(p->idle().error.kind, "invalid_input");
}

}  // namespace
}  // namespace cohort
