// Combining branch outputs without a runtime: collect, join, merge (deep, shallow, concat).
#include <gtest/gtest.h>

#include "workflow/aggregate.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;

aggregation how(aggregation_kind kind, merge_mode mode = merge_mode::deep) {
  aggregation a;
  a.kind = kind;
  a.merge = mode;
  return a;
}

TEST(AggregateUnit, CollectKeepsInputOrder) {
  EXPECT_EQ(aggregate(how(aggregation_kind::collect), {json(1), json("b"), json{{"c", 3}}}),
            json::parse(R"([1, "b", {"c": 3}])"));
}

TEST(AggregateUnit, JoinWritesOutputsAsTextWithTheSeparator) {
  auto a = how(aggregation_kind::join);
  a.separator = " | ";
  EXPECT_EQ(aggregate(a, {json("one"), json("two"), json(3)}), json("one | two | 3"));
}

TEST(AggregateUnit, MergeDeepShallowAndConcat) {
  std::vector<json> objects{json::parse(R"({"a": {"x": 1}, "b": 1})"), json::parse(R"({"a": {"y": 2}})")};
  EXPECT_EQ(aggregate(how(aggregation_kind::merge, merge_mode::deep), objects),
            json::parse(R"({"a": {"x": 1, "y": 2}, "b": 1})"));
  EXPECT_EQ(aggregate(how(aggregation_kind::merge, merge_mode::shallow), objects),
            json::parse(R"({"a": {"y": 2}, "b": 1})"));
  EXPECT_EQ(aggregate(how(aggregation_kind::merge, merge_mode::concat), {json{1, 2}, json::array(), json{3}}),
            json::parse("[1, 2, 3]"));
}

TEST(AggregateUnit, MergingWhatDoesNotFitNamesTheBranch) {
  try {
    aggregate(how(aggregation_kind::merge), {json::object(), json("text")});
    FAIL() << "merged a string into an object";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("branch 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(aggregate(how(aggregation_kind::merge, merge_mode::concat), {json{1}, json::object()}),
               std::invalid_argument);
}

}  // namespace
}  // namespace cohort
