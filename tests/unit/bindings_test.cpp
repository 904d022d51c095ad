// Bindings layered, not copied: a branch sees its own names over its ancestors', the
// ancestors' layer is shared by every branch, and templates resolve through it.
#include <gtest/gtest.h>

#include "messages/bindings.hpp"
#include "messages/task.hpp"
#include "spec/template.hpp"
#include "workflow/pattern.hpp"

using nlohmann::json;

TEST(Bindings, InnerNamesShadowOuterOnes) {
  auto outer = cohort::push_bindings({{"item", "outer"}, {"results", {1, 2}}}, nullptr);
  auto middle = cohort::push_bindings({{"acc", 5}, {"item", "middle"}}, outer);
  json own{{"index", 3}};
  EXPECT_EQ(*cohort::find_binding(own, middle.get(), "item"), "middle");
  EXPECT_EQ(*cohort::find_binding(own, middle.get(), "results"), json({1, 2}));
  EXPECT_EQ(*cohort::find_binding(own, middle.get(), "index"), 3);
  EXPECT_EQ(cohort::find_binding(own, middle.get(), "missing"), nullptr);
  EXPECT_EQ(cohort::flatten_bindings(own, middle),
            json({{"item", "middle"}, {"results", {1, 2}}, {"acc", 5}, {"index", 3}}));
}

TEST(Bindings, NothingBoundAddsNoLayer) {
  auto outer = cohort::push_bindings({{"x", 1}}, nullptr);
  EXPECT_EQ(cohort::push_bindings(json::object(), outer), outer);
  EXPECT_EQ(cohort::push_bindings(nullptr, outer), outer);
}

TEST(Bindings, EveryBranchSharesThePatternsLayer) {
  cohort::task t;
  t.bindings = {{"results", json::array({"a", "b", "c"})}};
  auto inherited = cohort::bindings_of(t);
  auto b1 = cohort::make_branch(0, nullptr, inherited, "x[0]", {{"item", 1}});
  auto b2 = cohort::make_branch(1, nullptr, inherited, "x[1]", {{"item", 2}});
  EXPECT_EQ(b1.inherited.get(), b2.inherited.get()) << "the results must not be copied per branch";
  EXPECT_EQ(b1.bindings, json({{"item", 1}}));
  EXPECT_EQ(b1.inherited->names["results"].size(), 3u);
}

TEST(Bindings, TemplatesResolveThroughTheLayers) {
  auto outer = cohort::push_bindings({{"results", {{{"name", "ada"}}}}, {"item", "outer"}}, nullptr);
  json own{{"item", {{"tags", {"x", "y"}}}}};
  json input{{"topic", "rust"}};
  cohort::template_scope scope(own, outer.get(), input);
  EXPECT_EQ(cohort::render("{{item.tags[1]}} {{results[0].name}} {{input.topic}}", scope), "y ada rust");
  // The own "item" shadows the outer one entirely: no falling through to a field of it.
  EXPECT_THROW(cohort::render("{{item.missing}}", scope), cohort::template_error);
}
