// The simulation workflow: rounds, messages between instances, the world step, early
// stops, failures, and reproducibility (one seed, one transcript).
#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::test_options;
using nlohmann::json;

namespace {

// Opinion dynamics on the sim model: each citizen keeps its opinion or takes the first
// one it heard (a weighted draw), and tells its neighbours. Jittered latency makes the
// agents finish in a different order in every run.
json opinion_scenario(uint64_t seed, int citizens, int rounds) {
  auto adopt = [](const char* group) {
    return std::string(R"({"state": {"opinion": "{{)") + group + R"(}}"}, "send": {"to": "@neighbours", "content": "{{)" +
           group + R"(}}"}})";
  };
  json heard_rule{{"match", "think (\\w+)\\. Heard: \\[\\{\"content\":\"(\\w+)\""},
                  {"choices", {{{"reply", adopt("1")}, {"weight", 1}}, {{"reply", adopt("2")}, {"weight", 1}}}}};
  json alone_rule{{"match", "think (\\w+)"}, {"reply", adopt("1")}};
  json rules = json::array({heard_rule, alone_rule});
  json instances = json::array();
  for (int i = 0; i < citizens; ++i) instances.push_back({{"opinion", i % 3 == 0 ? "red" : "blue"}});
  return {{"models", {{"sim", {{"provider", "sim"}, {"seed", 3}, {"latency_ms", {{"min", 0}, {"max", 4}}}, {"rules", rules}}}}},
          {"agents",
           {{"citizen",
             {{"model", "sim"}, {"output", "json"},
              {"prompt", "I am {{self.name}} ({{seed}}) and think {{self.opinion}}. Heard: {{messages}}"}}}}},
          {"workflow",
           {{"type", "simulation"}, {"rounds", rounds}, {"seed", seed}, {"topology", "random"}, {"degree", 3},
            {"population", {{{"agent", "citizen"}, {"name", "citizen-{{index}}"}, {"instances", instances}}}}}}};
}

TEST(Simulation, SameSeedSameTranscript) {
  cohort::Runtime rt(test_options());
  auto sc = rt.load(opinion_scenario(42, 30, 5));
  auto a = rt.run(sc);
  auto b = rt.run(sc);
  ASSERT_TRUE(a.ok()) << a.error;
  ASSERT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(a.output["rounds"], 5);
  ASSERT_EQ(a.output["transcript"].size(), 5u);
  EXPECT_EQ(a.output["transcript"][1]["messages"].size(), 90u);  // 30 citizens, 3 neighbours each
  EXPECT_EQ(a.output["transcript"].dump(), b.output["transcript"].dump());
  EXPECT_EQ(a.output["agents"].dump(), b.output["agents"].dump());
  EXPECT_EQ(a.branches.succeeded, 150);

  auto other = rt.run(rt.load(opinion_scenario(43, 30, 5)));
  ASSERT_TRUE(other.ok()) << other.error;
  EXPECT_NE(a.output["transcript"].dump(), other.output["transcript"].dump());
}

// C++ behaviours as tools: every instance sends three numbered messages to the next
// one, and reports what it received; the world step adds up the instances' totals.
TEST(Simulation, MessagesArriveNextRoundInSenderOrderAndTheWorldSteps) {
  cohort::Runtime rt(test_options());
  rt.register_tool("relay", [](const cohort::ToolCall& c) {
    const auto& self = c.bindings["self"];
    auto index = self["index"].get<int>();
    auto next = "n" + std::to_string((index + 1) % 4);
    json send = json::array();
    for (int k = 0; k < 3; ++k) send.push_back({{"to", next}, {"content", {{"k", k}, {"round", c.bindings["round"]}}}});
    int total = self.value("total", 0) + static_cast<int>(c.bindings["messages"].size());
    return json{{"heard", c.bindings["messages"]}, {"send", send}, {"state", {{"total", total}}}};
  });
  rt.register_tool("census", [](const cohort::ToolCall& c) {
    int sum = 0;
    for (const auto& a : c.bindings["actions"]) sum += a["self"]["total"].get<int>();
    return json{{"heard_so_far", sum}, {"steps", c.bindings["world"].value("steps", 0) + 1}};
  });
  auto sc = rt.load({{"models", json::object()},
                     {"agents",
                      {{"node", {{"type", "tool"}, {"tool", "relay"}}}, {"census", {{"type", "tool"}, {"tool", "census"}}}}},
                     {"workflow",
                      {{"type", "simulation"}, {"rounds", 3}, {"world_step", "census"},
                       {"population", {{{"agent", "node"}, {"count", 4}, {"name", "n{{index}}"}}}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  const auto& t = r.output["transcript"];
  ASSERT_EQ(t.size(), 3u);
  // Round 1 hears nothing; round 2 hears round 1's three messages from its predecessor, in order.
  EXPECT_TRUE(t[0]["actions"][1]["output"]["heard"].empty());
  const auto& heard = t[1]["actions"][1]["output"]["heard"];
  ASSERT_EQ(heard.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(heard[k]["from"], "n0");
    EXPECT_EQ(heard[k]["content"]["k"], k);
    EXPECT_EQ(heard[k]["content"]["round"], 1);
  }
  EXPECT_EQ(t[0]["messages"].size(), 12u);
  EXPECT_EQ(t[0]["world"], (json{{"heard_so_far", 0}, {"steps", 1}}));
  EXPECT_EQ(t[2]["world"], (json{{"heard_so_far", 24}, {"steps", 3}}));  // 12 heard in rounds 2 and 3
  EXPECT_EQ(r.output["world"], t[2]["world"]);
  EXPECT_EQ(r.output["agents"]["n2"]["total"], 6);
  EXPECT_EQ(r.reports["workflow"]["messages"], 36);
}

// Consensus: each agent takes the majority of what it heard; the run ends in the first
// round where everybody proposes the same.
TEST(Simulation, StopsWhenEveryoneAgrees) {
  cohort::Runtime rt(test_options());
  rt.register_tool("propose", [](const cohort::ToolCall& c) {
    auto mine = c.bindings["self"]["proposal"].get<std::string>();
    int a = 0, b = 0;
    for (const auto& m : c.bindings["messages"]) (m["content"] == "A" ? a : b)++;
    if (a + b > 0) mine = a >= b ? "A" : "B";
    return json{{"proposal", mine}, {"state", {{"proposal", mine}}}, {"send", {{"to", "*"}, {"content", mine}}}};
  });
  json instances = json::array({{{"proposal", "A"}}, {{"proposal", "B"}}, {{"proposal", "A"}}, {{"proposal", "B"}}, {{"proposal", "A"}}});
  auto sc = rt.load({{"models", json::object()},
                     {"agents", {{"member", {{"type", "tool"}, {"tool", "propose"}}}}},
                     {"workflow",
                      {{"type", "simulation"}, {"rounds", 10}, {"stop_when", {{"agree", true}, {"field", "proposal"}}},
                       {"population", {{{"agent", "member"}, {"instances", instances}}}}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["stopped"], "agreed");
  EXPECT_EQ(r.output["rounds"], 2);  // round 1 disagrees; everyone hears 3 A to 2 B (or 2 to 2 +own) -> A
  for (auto& [name, self] : r.output["agents"].items()) EXPECT_EQ(self["proposal"], "A") << name;
}

json flaky_scenario(const std::string& policy) {
  return {{"models", json::object()},
          {"agents", {{"x", {{"type", "tool"}, {"tool", "flaky"}}}}},
          {"workflow",
           {{"type", "simulation"}, {"rounds", 3}, {"policy", policy},
            {"population", {{{"agent", "x"}, {"count", 3}, {"name", "x{{index}}"}}}}}}};
}

TEST(Simulation, FailedActionsFollowThePolicy) {
  cohort::Runtime rt(test_options());
  rt.register_tool("flaky", [](const cohort::ToolCall& c) {
    if (c.bindings["self"]["name"] == "x1" && c.bindings["round"] == 2) throw std::runtime_error("lost its voice");
    return json{{"ok", true}};
  });
  auto soft = rt.run(rt.load(flaky_scenario("fail_soft")));
  ASSERT_TRUE(soft.ok()) << soft.error;
  EXPECT_EQ(soft.output["rounds"], 3);
  auto failed = soft.output["transcript"][1]["actions"][1]["output"];
  EXPECT_NE(failed["error"].get<std::string>().find("lost its voice"), std::string::npos);
  EXPECT_EQ(soft.reports["workflow"]["failed_actions"], 1);

  auto fast = rt.run(rt.load(flaky_scenario("fail_fast")));
  EXPECT_EQ(fast.status, "failed");
  EXPECT_EQ(fast.error_kind, "tool_error");
  EXPECT_NE(fast.error.find("x1[r2]"), std::string::npos) << fast.error;
}

TEST(Simulation, BadMessagesAndPopulationsAreNamed) {
  cohort::Runtime rt(test_options());
  rt.register_tool("stray", [](const cohort::ToolCall&) { return json{{"send", {{"to", "nobody"}, {"content", 1}}}}; });
  rt.register_tool("same", [](const cohort::ToolCall&) { return json{{"ok", true}}; });
  auto stray = rt.run(rt.load({{"models", json::object()},
                               {"agents", {{"s", {{"type", "tool"}, {"tool", "stray"}}}}},
                               {"workflow", {{"type", "simulation"}, {"population", {{{"agent", "s"}}}}}}}));
  EXPECT_EQ(stray.error_kind, "invalid_output");
  EXPECT_NE(stray.error.find("s-0[r1] sent a message to \"nobody\""), std::string::npos) << stray.error;

  auto twins = rt.run(rt.load({{"models", json::object()},
                               {"agents", {{"s", {{"type", "tool"}, {"tool", "same"}}}}},
                               {"workflow",
                                {{"type", "simulation"},
                                 {"population", {{{"agent", "s"}, {"count", 2}, {"name", "twin"}}}}}}}));
  EXPECT_EQ(twins.error_kind, "invalid_input");
  EXPECT_NE(twins.error.find("$.workflow.population[0]: two instances are named \"twin\""), std::string::npos)
      << twins.error;

  try {
    rt.load({{"models", json::object()},
             {"agents", {{"s", {{"type", "tool"}, {"tool", "same"}}}}},
             {"input", {{"people", 3}}},
             {"workflow",
              {{"type", "simulation"},
               {"population", {{{"agent", "s"}, {"instances_from", "input.people"}}, {{"agent", "ghost"}}}}}}});
    FAIL() << "loaded";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("$.workflow.population[1].agent: unknown agent \"ghost\""), std::string::npos) << what;
  }
  // An input that is not a list of instances: named when the run starts, and at once
  // when a new input is given.
  auto people = rt.load({{"models", json::object()},
                         {"agents", {{"s", {{"type", "tool"}, {"tool", "same"}}}}},
                         {"input", {{"people", 3}}},
                         {"workflow",
                          {{"type", "simulation"}, {"population", {{{"agent", "s"}, {"instances_from", "input.people"}}}}}}});
  auto r = rt.run(people);
  EXPECT_EQ(r.error_kind, "invalid_input");
  EXPECT_NE(r.error.find("$.workflow.population[0].instances_from: \"input.people\" is not a non-empty array"),
            std::string::npos)
      << r.error;
  try {
    rt.run(people, json{{"people", json::array()}});
    FAIL() << "ran";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("$.workflow.population[0].instances_from: \"input.people\" must be a non-empty array"),
              std::string::npos)
        << what;
  }
  auto ok = rt.run(people, json{{"people", {{{"mood", "calm"}}, {{"mood", "tense"}}}}});
  ASSERT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.output["agents"]["s-1"]["mood"], "tense");
}

}  // namespace

// 600 instances broadcasting: 359,400 messages in one round, past the round's
// bound: a clear mailbox_full error instead of gigabytes of copies.
TEST(Simulation, AFloodOfMessagesInOneRoundIsAClearError) {
  cohort::Runtime rt(test_options());
  rt.register_tool("shout", [](const cohort::ToolCall&) {
    return json{{"send", {{"to", "*"}, {"content", "hello everyone"}}}};
  });
  auto sc = rt.load({{"models", json::object()},
                     {"agents", {{"shouter", {{"type", "tool"}, {"tool", "shout"}}}}},
                     {"workflow", {{"type", "simulation"}, {"rounds", 2},
                                   {"population", {{{"agent", "shouter"}, {"count", 600}}}}}}});
  auto r = rt.run(sc);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_kind, "mailbox_full");
  EXPECT_NE(r.error.find("more than 250000 messages in one round"), std::string::npos) << r.error;
}
