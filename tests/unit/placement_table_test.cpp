// The head's placement rule, without CAF or processes: labels, tools, free slots, and
// the two policies.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node/placement_table.hpp"

namespace cohort::node {
namespace {

worker_info worker(const std::string& name, int slots, std::map<std::string, std::string> labels = {},
                   std::vector<std::string> tools = {}) {
  worker_info w;
  w.name = name;
  w.slots = slots;
  w.labels = std::move(labels);
  w.tools = std::move(tools);
  return w;
}

agent_def llm() {
  agent_def a;
  a.name = "a";
  return a;
}

const placement_rule anywhere;

using verdict = placement_table::verdict;

TEST(PlacementTable, WithoutWorkersABranchRunsOnTheHead) {
  placement_table t;
  EXPECT_EQ(t.choose(llm(), anywhere, placement_policy::least_loaded).what, verdict::here);
}

TEST(PlacementTable, LeastLoadedTakesTheWorkerWithMostFreeSlotsAndWaitsWhenAllAreFull) {
  placement_table t;
  auto small = t.add(worker("small", 1), 0);
  auto large = t.add(worker("large", 3), 0);
  std::vector<uint64_t> got;
  for (int i = 0; i < 4; ++i) {
    auto c = t.choose(llm(), anywhere, placement_policy::least_loaded);
    ASSERT_EQ(c.what, verdict::placed);
    t.started(c.worker);
    got.push_back(c.worker);
  }
  // large (3 free), large (2 free) or small (1 free, tie: the first) ... every slot used once.
  EXPECT_EQ(std::count(got.begin(), got.end(), large), 3);
  EXPECT_EQ(std::count(got.begin(), got.end(), small), 1);
  EXPECT_EQ(t.choose(llm(), anywhere, placement_policy::least_loaded).what, verdict::wait);
  EXPECT_FALSE(t.any_free());
  t.finished(small);
  EXPECT_EQ(t.choose(llm(), anywhere, placement_policy::least_loaded).worker, small);
  EXPECT_EQ(t.find(small)->done, 1);
}

TEST(PlacementTable, RoundRobinTakesEachFreeWorkerInTurn) {
  placement_table t;
  auto a = t.add(worker("a", 10), 0), b = t.add(worker("b", 10), 0), c = t.add(worker("c", 1), 0);
  std::vector<uint64_t> got;
  for (int i = 0; i < 5; ++i) {
    auto ch = t.choose(llm(), anywhere, placement_policy::round_robin);
    t.started(ch.worker);
    got.push_back(ch.worker);
  }
  EXPECT_EQ(got, (std::vector<uint64_t>{a, b, c, a, b})) << "c is full after one";
}

TEST(PlacementTable, LabelsAndToolsNarrowTheChoiceAndNoMatchIsRefusedOrRunHere) {
  placement_table t;
  t.add(worker("cpu", 8, {{"zone", "a"}}, {"echo"}), 0);
  auto gpu = t.add(worker("gpu", 1, {{"gpu", "1"}, {"zone", "a"}}), 0);
  placement_rule wants_gpu{placement_rule::where::labels, {{"gpu", "1"}, {"zone", "a"}}};
  auto c = t.choose(llm(), wants_gpu, placement_policy::least_loaded);
  ASSERT_EQ(c.what, verdict::placed);
  EXPECT_EQ(c.worker, gpu);
  t.started(gpu);
  EXPECT_EQ(t.choose(llm(), wants_gpu, placement_policy::least_loaded).what, verdict::wait)
      << "the only gpu worker is full";
  placement_rule wants_b{placement_rule::where::labels, {{"zone", "b"}}};
  auto refused = t.choose(llm(), wants_b, placement_policy::least_loaded);
  EXPECT_EQ(refused.what, verdict::refuse);
  EXPECT_EQ(refused.why, "no worker of this node has zone=b");
  agent_def tool;
  tool.type = agent_type::tool;
  tool.tool = "my_tool";
  EXPECT_EQ(t.choose(tool, anywhere, placement_policy::least_loaded).what, verdict::here) << "only the head has my_tool";
  tool.tool = "echo";
  EXPECT_EQ(t.choose(tool, anywhere, placement_policy::least_loaded).what, verdict::placed);
}

TEST(PlacementTable, SilentWorkersAreThoseNotHeardFromSince) {
  placement_table t;
  auto a = t.add(worker("a", 1), 1000);
  auto b = t.add(worker("b", 1), 1000);
  t.heard_from(b, 2500);
  EXPECT_EQ(t.silent_since(2000), std::vector<uint64_t>{a});
  t.remove(a);
  EXPECT_TRUE(t.silent_since(2000).empty());
  auto doc = t.describe(3000);
  ASSERT_EQ(doc.size(), 1u);
  EXPECT_EQ(doc[0]["name"], "b");
  EXPECT_EQ(doc[0]["last_heartbeat_ms_ago"], 500);
}

}  // namespace
}  // namespace cohort::node
