// DAG algorithms without a runtime: resolving names, cycles, layers, critical path.
#include <gtest/gtest.h>

#include "spec/dag_graph.hpp"

namespace cohort {
namespace {

std::string at(size_t i) { return "$.nodes[" + std::to_string(i) + "]"; }

TEST(DagGraphUnit, ResolvesNamesIntoNumbers) {
  dag_deps deps;
  auto problems = resolve_dag({"a", "b", "c"}, {{}, {"a"}, {"a", "b"}}, at, deps);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(deps, (dag_deps{{}, {0}, {0, 1}}));
}

TEST(DagGraphUnit, NamesEveryProblemWithItsNodes) {
  dag_deps deps;
  auto problems = resolve_dag({"a", "a", "b"}, {{}, {}, {"nope", "b"}}, at, deps);
  std::string all;
  for (auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("a"), std::string::npos) << all;     // the duplicate id
  EXPECT_NE(all.find("nope"), std::string::npos) << all;  // the unknown dependency
  EXPECT_NE(all.find("$.nodes[2]"), std::string::npos) << all;
  EXPECT_GE(problems.size(), 3u) << all;                  // duplicate, unknown, self
}

TEST(DagGraphUnit, FindsACycleAsTheIdsAlongIt) {
  dag_deps deps{{2}, {0}, {1}, {}};  // a waits for c, b for a, c for b
  auto cycle = find_cycle({"a", "b", "c", "d"}, deps);
  ASSERT_EQ(cycle.size(), 4u);
  EXPECT_EQ(cycle.front(), cycle.back());
  EXPECT_TRUE(find_cycle({"a", "b"}, dag_deps{{}, {0}}).empty());

  dag_deps resolved;
  auto problems = resolve_dag({"a", "b"}, {{"b"}, {"a"}}, at, resolved);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.back().find("->"), std::string::npos) << problems.back();
}

TEST(DagGraphUnit, LayersByLongestChain) {
  // d waits for a and c; c for b; b for a: a | b | c | d, although d also waits for a.
  dag_deps deps{{}, {0}, {1}, {0, 2}, {}};
  auto layers = topological_layers(deps);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0], (std::vector<size_t>{0, 4}));
  EXPECT_EQ(layers[3], (std::vector<size_t>{3}));
}

TEST(DagGraphUnit, CriticalPathFollowsTheLongestDurations) {
  // a -> b (10) -> d and a -> c (50) -> d: the path goes through c.
  dag_deps deps{{}, {0}, {0}, {1, 2}};
  EXPECT_EQ(critical_path(deps, {1, 10, 50, 1}), (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(critical_path(deps, {1, 90, 50, 1}), (std::vector<size_t>{0, 1, 3}));
}

}  // namespace
}  // namespace cohort
