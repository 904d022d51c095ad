// Placement written on a pattern (docs/cluster.md): the leaf agents below it go
// where it says unless they say otherwise themselves. A head and two embedded
// workers in this process, each answering a tool with its own name, so the
// output shows where each branch ran.
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "cohort/worker.hpp"
#include "node/cluster.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;


// A runtime whose "whoami" tool answers with `name`, and "slow_whoami" too after `slow_ms`.
std::unique_ptr<Runtime> answering_as(const std::string& name, int slow_ms = 1500) {
  auto rt = std::make_unique<Runtime>(testing::cluster_test_options());
  rt->register_tool("whoami", [name](const ToolCall&) { return json(name); });
  rt->register_tool("slow_whoami", [name, slow_ms](const ToolCall&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
    return json(name);
  });
  return rt;
}

class PatternPlacement : public ::testing::Test {
 protected:
  void SetUp() override {
    head_ = std::make_unique<node::cluster_head>(*head_rt_, node::cluster_options{});
    join(*zone_a_rt_, "zone-a", {{"zone", "a"}}, zone_a_);
    join(*gpu_rt_, "gpu", {{"gpu", "1"}, {"zone", "b"}}, gpu_);
  }

  void join(Runtime& rt, const std::string& name, std::map<std::string, std::string> labels,
            std::unique_ptr<Worker>& out) {
    WorkerOptions w;
    w.head_port = head_->port();
    w.slots = 4;
    w.name = name;
    w.labels = std::move(labels);
    out = rt.join(w);
    ASSERT_TRUE(out->wait_joined(10000)) << out->refused();
  }

  void TearDown() override {
    for (auto* w : {&zone_a_, &gpu_})
      if (*w) (*w)->stop();
  }

  RunResult run(const json& workflow, const json& agents) {
    json doc = {{"name", "where"}, {"agents", agents}, {"workflow", workflow}, {"input", {{"items", {1, 2, 3}}}}};
    return head_rt_->run(head_rt_->load(doc));
  }

  std::unique_ptr<Runtime> head_rt_ = answering_as("head", 0);
  std::unique_ptr<Runtime> zone_a_rt_ = answering_as("zone-a");
  std::unique_ptr<Runtime> gpu_rt_ = answering_as("gpu");
  std::unique_ptr<node::cluster_head> head_;
  std::unique_ptr<Worker> zone_a_, gpu_;
};

json who_agents() {
  return {{"who", {{"type", "tool"}, {"tool", "whoami"}}},
          {"who_on_gpu", {{"type", "tool"}, {"tool", "whoami"}, {"placement", {{"labels", {{"gpu", "1"}}}}}}}};
}

json each_item(const json& body, const json& placement) {
  json n = {{"type", "fan_out"}, {"over", "input.items"}, {"do", body}};
  if (!placement.is_null()) n["placement"] = placement;
  return n;
}

TEST_F(PatternPlacement, AgentsBelowAPatternGoWhereItSaysUnlessTheySayOtherwise) {
  auto zone_a = json{{"labels", {{"zone", "a"}}}};
  // The pattern's labels reach its agents (the gpu worker has free slots too).
  auto r = run(each_item({{"agent", "who"}}, zone_a), who_agents());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"zone-a", "zone-a", "zone-a"}));

  // The nearest pattern wins: a "local" inside a zone-a pattern runs on the
  // head.
  auto nested = json{{"type", "fan_out"},
                     {"placement", zone_a},
                     {"branches", {each_item({{"agent", "who"}}, "local"), each_item({{"agent", "who"}}, nullptr)}}};
  r = run(nested, who_agents());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({json{"head", "head", "head"}, json{"zone-a", "zone-a", "zone-a"}}));

  // An agent's own rule wins over its pattern's.
  r = run(each_item({{"agent", "who_on_gpu"}}, zone_a), who_agents());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"gpu", "gpu", "gpu"}));

  // On the root agent node itself, and a node of one agent inside a pattern.
  r = run({{"agent", "who"}, {"placement", {{"labels", {{"gpu", "1"}}}}}}, who_agents());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "gpu");
  r = run(each_item({{"agent", "who"}, {"placement", "local"}}, zone_a), who_agents());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"head", "head", "head"}));

  // Labels no worker has, from the pattern: refused at placement, as an agent's
  // would be.
  r = run(each_item({{"agent", "who"}}, json{{"labels", {{"zone", "c"}}}}), who_agents());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("no worker of this node has zone=c"), std::string::npos) << r.error;
}

// MCP servers the head's runtime offers (RuntimeOptions::mcp_servers, a config's
// "mcp_servers"): a scenario naming none of its own uses them, and llm agents placed on
// a worker use them (the tool calls run on the head, where the server is; the worker
// loads the scenario with the tools the head listed). The server is a real process
// (tests/support/tiny_mcp_server.py).
TEST(OfferedMcpServers, AgentsOnAWorkerCallTheHeadsServer) {
  auto head_options = testing::cluster_test_options();
  head_options.mcp_servers = {
      {"tiny", {{"command", "python3"}, {"args", {std::string(COHORT_SOURCE_DIR) + "/tests/support/tiny_mcp_server.py"}}}}};
  Runtime head_rt(head_options);
  node::cluster_head head(head_rt, node::cluster_options{});
  Runtime worker_rt(testing::cluster_test_options());
  WorkerOptions w;
  w.head_port = head.port();
  w.slots = 4;
  w.name = "zone-a";
  w.labels = {{"zone", "a"}};
  auto worker = worker_rt.join(w);
  ASSERT_TRUE(worker->wait_joined(10000)) << worker->refused();
  json turns = json::array({json::array({{{"name", "echo"}, {"arguments", {{"message", "tides"}}}}})});
  json doc = {{"name", "offered"},
              {"models", {{"m", {{"provider", "sim"},
                                 {"rules", json::array({{{"match", "research"}, {"tool_turns", turns},
                                                         {"reply", "report: {{tool_results}}"}}})}}}}},
              {"agents", {{"researcher", {{"model", "m"}, {"prompt", "research {{item}}"}, {"tools", {"mcp:tiny/echo"}},
                                          {"placement", {{"labels", {{"zone", "a"}}}}}}}}},
              {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "researcher"}}}}},
              {"input", {{"items", {1, 2, 3}}}}};
  auto placed_before = head.status().value("placed", int64_t{0});
  auto r = head_rt.run(head_rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, json({"report: echo: tides", "report: echo: tides", "report: echo: tides"}));
  // The loop of each llm agent stays with its supervisor on the head; its two model turns
  // are what goes to the worker.
  EXPECT_EQ(head.status().value("placed", int64_t{0}) - placed_before, 6) << head.status();
  // A scenario's own server of that name wins: this one's command does not exist.
  doc["mcp_servers"] = {{"tiny", {{"command", "/nonexistent/tiny-mcp"}}}};
  auto problems = testing::load_problems(head_rt, doc);
  EXPECT_TRUE(testing::has_text(problems, "$.mcp_servers.tiny")) << problems;
  worker->stop();
}

TEST_F(PatternPlacement, AHeadOnlyAgentBelowLabelsIsAScenarioErrorNamingBoth) {
  json agents = who_agents();
  agents["pooled"] = {{"type", "tool"}, {"tool", "whoami"}, {"pool", 2}};
  json doc = {{"name", "where"},
              {"agents", agents},
              {"workflow", each_item({{"agent", "pooled"}}, json{{"labels", {{"gpu", "1"}}}})},
              {"input", {{"items", {1}}}}};
  try {
    head_rt_->load(doc);
    FAIL() << "a pooled agent cannot follow its pattern's labels";
  } catch (const std::exception& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("$.workflow.do"), std::string::npos) << what;
    EXPECT_NE(what.find("\"pooled\" runs on the head only"), std::string::npos) << what;
  }
  // Saying "local" on the agent settles it; "any" on the pattern asks nothing
  // of it.
  agents["pooled"]["placement"] = "local";
  doc["agents"] = agents;
  EXPECT_NO_THROW(head_rt_->load(doc));
}

// The root of the workflow is itself a placed agent: nothing above it retries it, so
// the run does when its worker is lost (as the same attempt).
TEST_F(PatternPlacement, ARootAgentWhoseWorkerIsLostRunsAgainElsewhere) {
  json doc = {{"name", "root"},
              {"agents", {{"who", {{"type", "tool"}, {"tool", "slow_whoami"}}}}},
              {"workflow", {{"agent", "who"}}}};
  auto scenario = head_rt_->load(doc);
  auto running = std::async(std::launch::async, [&] { return head_rt_->run(scenario); });
  std::string holder;
  for (int i = 0; i < 250 && holder.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto s = head_->status();
    for (const auto& w : s["workers"])
      if (w["busy"] == 1) holder = w["name"];
  }
  ASSERT_FALSE(holder.empty()) << head_->status();
  (holder == "gpu" ? gpu_ : zone_a_)->stop();
  auto r = running.get();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, holder == "gpu" ? "zone-a" : "gpu") << "the surviving worker answered";
  EXPECT_EQ(r.summary.retries, 1);
  EXPECT_EQ(head_->status()["lost_branches"], 1) << head_->status();
}

}  // namespace
}  // namespace cohort
