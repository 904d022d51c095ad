// Seed 000's agent API on a real `cohort serve`, with real processes on 127.0.0.1:
// external programs join a run, talk to its agents through the run's bus, meet them at
// barriers and hand in results; every refusal names what is wrong.
#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

// An in-run agent that receives two messages and broadcasts what it saw, an external
// agent "outside", and a sync point "meet" for two.
json talk_scenario(int outside_timeout_ms = 20000) {
  return {{"name", "talk"},
          {"models",
           {{"fast",
             {{"provider", "sim"},
              {"latency_ms", 1},
              {"rules",
               {{{"match", "Heard: \\[.*hello one.*hello two"},
                 {"reply", "{\"heard\": 2, \"send\": {\"to\": \"outside\", \"content\": \"both arrived\"}}"}}}}}}}},
          {"barriers", {{"meet", 2}}},
          {"agents",
           {{"outside", {{"type", "external"}, {"timeout_ms", outside_timeout_ms}}},
            {"listener",
             {{"model", "fast"},
              {"output", "json"},
              {"prompt", "Heard: {{messages}}"},
              {"coordination", {{"send", true}, {"receive", {{"count", 2}, {"timeout_ms", 20000}}}}}}}}},
          {"workflow", {{"type", "fan_out"}, {"branches", {{{"agent", "outside"}}, {{"agent", "listener"}}}}}}};
}

class AgentApi : public ::testing::Test {
 protected:
  void SetUp() override { node_ = std::make_unique<node_process>(fresh_dir("agents")); }

  http_answer post(const std::string& target, const json& body) {
    return http_call(node_->port(), "POST", target, body.dump(), {{"Content-Type", "application/json"}}, 15000);
  }
  http_answer get(const std::string& target) { return http_call(node_->port(), "GET", target, "", {}, 15000); }
  std::string at(const std::string& run, const std::string& rest) { return "/v1/workflows/" + run + rest; }

  std::unique_ptr<node_process> node_;
};

// Seed 000's example across processes: four Python analyzers (examples/node) and the
// in-run aggregator exchange messages both ways and meet at a barrier.
TEST_F(AgentApi, TheExternalAnalyzersExampleRuns) {
  child_process driver(
      {"/usr/bin/env", "python3", std::string(COHORT_SOURCE_DIR) + "/examples/node/run_analyzers.py", node_->url()});
  auto out = driver.read_all(90000);
  ASSERT_EQ(driver.wait(5000), 0) << out << driver.read_stderr(1000);
  auto doc = json::parse(out.substr(out.find("{\n")));
  EXPECT_EQ(doc["status"], "succeeded");
  ASSERT_EQ(doc["output"].size(), 5u) << doc;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(doc["output"][i]["summary"], "all four insights arrived") << doc;
    EXPECT_NE(doc["output"][i]["insight"].get<std::string>().find("is trending"), std::string::npos) << doc;
  }
  EXPECT_EQ(doc["output"][4]["summary"], "all four insights arrived") << "the aggregator's {{messages}} held all four";
}

TEST_F(AgentApi, MessagesGoBothWaysAndTheResultIsTheBranchOutput) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  auto joined = post(at(run, "/agents/outside/register"), json::object());
  ASSERT_EQ(joined.status, 200) << joined.body;
  EXPECT_EQ(json::parse(joined.body)["run"], run);
  EXPECT_EQ(json::parse(joined.body)["timeout_ms"], 20000);
  // To a list: one id each, in order.
  auto sent = post(at(run, "/agents/outside/send"), {{"to", {"listener"}}, {"content", "hello one"}});
  ASSERT_EQ(sent.status, 200) << sent.body;
  EXPECT_EQ(json::parse(sent.body)["sent"][0]["to"], "listener");
  ASSERT_EQ(post(at(run, "/agents/outside/send"), {{"to", "listener"}, {"content", "hello two"}}).status, 200);
  // The listener's answer comes back to "outside" on the bus: a long poll waits for it.
  auto got = get(at(run, "/agents/outside/messages?max=5&timeout_ms=10000"));
  ASSERT_EQ(got.status, 200) << got.body;
  auto messages = json::parse(got.body)["messages"];
  ASSERT_EQ(messages.size(), 1u) << got.body;
  EXPECT_EQ(messages[0]["from"], "listener");
  EXPECT_EQ(messages[0]["content"], "both arrived");
  ASSERT_EQ(post(at(run, "/agents/outside/result"), {{"output", {{"ok", true}}}}).status, 200);
  auto done = wait_finished(node_->port(), run);
  EXPECT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ(done["output"][0], json({{"ok", true}}));
  EXPECT_EQ(done["output"][1]["heard"], 2);
}

TEST_F(AgentApi, ALongPollTakesAtMostMaxAndWaitsOnlyForTheFirst) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  for (const char* text : {"a", "b", "c"})
    ASSERT_EQ(post(at(run, "/agents/x/send"), {{"to", "y"}, {"content", text}}).status, 200);
  auto first = json::parse(get(at(run, "/agents/y/messages?max=2&timeout_ms=5000")).body)["messages"];
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0]["content"], "a");
  EXPECT_EQ(first[1]["content"], "b");
  auto rest = json::parse(get(at(run, "/agents/y/messages?max=2&timeout_ms=5000")).body)["messages"];
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0]["content"], "c");
  auto began = std::chrono::steady_clock::now();
  auto none = get(at(run, "/agents/y/messages?timeout_ms=300"));
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(json::parse(none.body)["messages"], json::array());
  EXPECT_GE(waited, 250) << "it waited for a message before answering none";
  // One result an external agent; the run goes on (its listener still waits).
  ASSERT_EQ(post(at(run, "/agents/outside/result"), {{"output", 1}}).status, 200);
  auto again = post(at(run, "/agents/outside/result"), {{"output", 2}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(json::parse(again.body)["error"]["kind"], "result_given");
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
}

// A long-polling client that hangs up takes nothing with it: the message sent after it
// left is there for its next poll (the bus had kept the gone client's wait otherwise,
// and handed it the message, which was then lost with the connection).
TEST_F(AgentApi, AClientThatHangsUpDuringALongPollLosesNoMessage) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  for (int round = 0; round < 3; ++round) {
    auto left = http_stream(node_->port(), at(run, "/agents/poller/messages?timeout_ms=20000"), {}, 200);
    ASSERT_EQ(left, "") << "the client gave up before any answer";
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the node sees the hang-up (slow under ASan)
    auto text = "after hang-up " + std::to_string(round);
    ASSERT_EQ(post(at(run, "/agents/x/send"), {{"to", "poller"}, {"content", text}}).status, 200);
    auto got = get(at(run, "/agents/poller/messages?timeout_ms=3000"));
    ASSERT_EQ(got.status, 200) << got.body;
    auto messages = json::parse(got.body)["messages"];
    ASSERT_EQ(messages.size(), 1u) << got.body;
    EXPECT_EQ(messages[0]["content"], text);
  }
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
}

TEST_F(AgentApi, ABarrierOverHttpReleasesAllOrTimesOutAndBreaks) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  // Alone at a sync point of two: the wait times out, and the generation is broken for the next.
  auto alone = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "outside"}, {"timeout_ms", 300}});
  EXPECT_EQ(alone.status, 408) << alone.body;
  EXPECT_EQ(json::parse(alone.body)["error"]["kind"], "timeout");
  auto late = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "other"}, {"timeout_ms", 300}});
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(json::parse(late.body)["error"]["kind"], "broken");
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
}

TEST_F(AgentApi, TwoPartiesOverHttpAreReleasedTogether) {
  auto s = talk_scenario();
  auto run = submit(node_->port(), {{"scenario", s}})["id"].get<std::string>();
  http_answer first;
  std::thread waiting([&] {
    first = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "a"}, {"timeout_ms", 10000}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto second = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "b"}, {"timeout_ms", 10000}});
  waiting.join();
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(json::parse(first.body)["generation"], 1);
  EXPECT_EQ(json::parse(second.body)["generation"], 1);
  // Which arrived first is the machine's to decide: one each.
  EXPECT_EQ(json::parse(first.body)["arrival_index"].get<int>() + json::parse(second.body)["arrival_index"].get<int>(), 1);
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
}

// A party whose client hangs up while it waits no longer counts as arrived: its retry
// is welcome (not an extra party), and the release needs the other party too.
TEST_F(AgentApi, APartyThatHangsUpAtABarrierMayArriveAgain) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  auto body = json{{"name", "meet"}, {"agent", "a"}, {"timeout_ms", 20000}}.dump();
  auto gone = http_post_stream(node_->port(), at(run, "/sync/barrier"), body, {}, 200);
  ASSERT_EQ(gone, "") << "the client gave up before any answer";
  // The node sees the hang-up and the withdrawal reaches the barrier (under ASan 200 ms
  // were once not enough: the hang-up and b's arrival travel different connections).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // Had the first arrival stayed, b alone would be released now (and a's retry refused).
  auto alone = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "b"}, {"timeout_ms", 300}});
  EXPECT_EQ(alone.status, 408) << alone.body;
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);

  run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  ASSERT_EQ(http_post_stream(node_->port(), at(run, "/sync/barrier"), body, {}, 200), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  http_answer again;
  std::thread retry([&] {
    again = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "a"}, {"timeout_ms", 10000}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto other = post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "b"}, {"timeout_ms", 10000}});
  retry.join();
  ASSERT_EQ(again.status, 200) << again.body;
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(json::parse(again.body)["generation"], 1);
  EXPECT_EQ(json::parse(other.body)["generation"], 1);
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
}

TEST_F(AgentApi, AnExternalAgentThatNeverAnswersTimesOut) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario(300)}})["id"].get<std::string>();
  auto done = wait_finished(node_->port(), run);
  EXPECT_EQ(done["status"], "timed_out") << done;
  // Its own timer or its supervisor's, whichever fires first.
  auto message = done["error"]["message"].get<std::string>();
  EXPECT_EQ(message.rfind("workflow/outside: ", 0), 0u) << done;
  EXPECT_NE(message.find("no result within"), std::string::npos) << done;
}

TEST_F(AgentApi, RefusalsNameWhatIsWrong) {
  auto run = submit(node_->port(), {{"scenario", talk_scenario()}})["id"].get<std::string>();
  auto expect = [&](const http_answer& a, int status, const std::string& kind) {
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_EQ(json::parse(a.body, nullptr, false)["error"]["kind"], kind) << a.body;
  };
  expect(post("/v1/workflows/no-such-run/agents/a/send", {{"to", "b"}, {"content", 1}}), 404, "unknown_run");
  expect(post(at(run, "/agents/listener/register"), json::object()), 409, "not_external");
  expect(post(at(run, "/agents/ghost/register"), json::object()), 404, "unknown_agent");
  expect(post(at(run, "/agents/ghost/result"), {{"output", 1}}), 404, "unknown_agent");
  expect(post(at(run, "/agents/outside/result"), {{"answer", 1}}), 400, "invalid_request");
  expect(http_call(node_->port(), "POST", at(run, "/agents/a/send"), "{\"to\":"), 400, "invalid_json");
  expect(post(at(run, "/agents/a/send"), {{"to", 7}, {"content", 1}}), 400, "invalid_request");
  expect(post(at(run, "/agents/a/send"), {{"to", "b"}}), 400, "invalid_request");
  expect(post(at(run, "/agents/a/send"), {{"to", "b"}, {"content", std::string(1100000, 'x')}}), 413, "content_too_large");
  expect(get(at(run, "/agents/a/messages?max=0")), 400, "invalid_query");
  expect(get(at(run, "/agents/a/messages?timeout_ms=99999999")), 400, "invalid_query");
  expect(post(at(run, "/sync/barrier"), {{"name", "nowhere"}, {"agent", "a"}}), 404, "unknown_barrier");
  expect(post(at(run, "/sync/barrier"), {{"name", "meet"}}), 400, "invalid_request");
  expect(post(at(run, "/sync/barrier"), {{"name", "meet"}, {"agent", "a"}, {"timeout_ms", -1}}), 400,
         "invalid_request");
  expect(http_call(node_->port(), "GET", at(run, "/agents/a/send")), 405, "method_not_allowed");
  expect(post(at(run, "/agents/a/dance"), json::object()), 404, "not_found");
  expect(post(at(run, "/agents/bad%20name/send"), {{"to", "b"}, {"content", 1}}), 400, "invalid_name");
  // A run that ended has no bus to talk to.
  ASSERT_EQ(http_call(node_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
  wait_finished(node_->port(), run);
  expect(post(at(run, "/agents/a/send"), {{"to", "b"}, {"content", 1}}), 409, "not_running");
  EXPECT_EQ(http_call(node_->port(), "GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace cohort::testing
