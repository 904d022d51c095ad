// The node's bounded submission queue (--queue) on a real `cohort serve`: beyond
// --max-runs a run waits with its position, starts in order when a slot frees, can be
// cancelled while it waits, is refused (429) when the queue is full, and is reported
// interrupted after a kill.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

json get_run(int port, const std::string& id) {
  return json::parse(http_call(port, "GET", "/v1/runs/" + id).body, nullptr, false);
}

TEST(NodeQueue, RunsWaitInOrderBeyondMaxRunsAndStartWhenASlotFrees) {
  node_process node(fresh_dir("queue"), {"--max-runs", "1", "--queue", "2"});
  auto a = submit(node.port(), {{"scenario", slow_scenario(1500)}})["id"].get<std::string>();
  auto b_doc = submit(node.port(), {{"scenario", slow_scenario(0)}});
  auto c_doc = submit(node.port(), {{"scenario", slow_scenario(0)}});
  EXPECT_EQ(b_doc["status"], "queued");
  EXPECT_EQ(b_doc["queue_position"], 1);
  EXPECT_EQ(c_doc["queue_position"], 2);
  auto b = b_doc["id"].get<std::string>(), c = c_doc["id"].get<std::string>();

  auto full = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", slow_scenario(0)}}.dump());
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_EQ(full.headers["retry-after"], "1");
  EXPECT_NE(full.body.find("queue is full"), std::string::npos) << full.body;
  EXPECT_NE(http_call(node.port(), "GET", "/metrics").body.find("cohort_queue_depth 2"), std::string::npos);

  // Cancelled while it waits: it ends at once, and the one before it keeps its place.
  auto cancel = http_call(node.port(), "POST", "/v1/runs/" + c + "/cancel");
  EXPECT_EQ(cancel.status, 202);
  auto c_now = get_run(node.port(), c);
  EXPECT_EQ(c_now["status"], "cancelled");
  EXPECT_EQ(c_now["branches"]["succeeded"], 0);
  EXPECT_EQ(get_run(node.port(), b)["queue_position"], 1);
  EXPECT_EQ(get_run(node.port(), a)["status"], "running");

  // A watcher of the queued run sees it start, run and end.
  auto stream = http_stream(node.port(), "/v1/runs/" + b + "/events", {}, 15000);
  EXPECT_NE(stream.find("event: started"), std::string::npos) << stream;
  EXPECT_NE(stream.find("event: result"), std::string::npos) << stream;
  auto a_done = wait_finished(node.port(), a), b_done = wait_finished(node.port(), b);
  EXPECT_EQ(a_done["status"], "succeeded");
  EXPECT_EQ(b_done["status"], "succeeded");
  EXPECT_FALSE(b_done.contains("queue_position"));
  EXPECT_NE(http_call(node.port(), "GET", "/metrics").body.find("cohort_queue_depth 0"), std::string::npos);
}

// A cancel that comes while a queued run is being started (it shows "running", but the
// runtime has not handed back its handle yet) was answered 202 and then dropped: the
// run went on to succeed. Many sim models make the start take long enough to hit.
TEST(NodeQueue, ACancelWhileAQueuedRunStartsStopsIt) {
  node_process node(fresh_dir("queue-start"), {"--max-runs", "1", "--queue", "8"});
  auto heavy = slow_scenario(3000);
  for (int i = 0; i < 4000; ++i) heavy["models"]["spare" + std::to_string(i)] = {{"provider", "sim"}};
  for (int round = 0; round < 3; ++round) {
    auto blocker = submit(node.port(), {{"scenario", slow_scenario(60000)}})["id"].get<std::string>();
    auto queued = submit(node.port(), {{"scenario", heavy}});
    ASSERT_EQ(queued["status"], "queued") << queued;
    auto id = queued["id"].get<std::string>();
    ASSERT_EQ(http_call(node.port(), "POST", "/v1/runs/" + blocker + "/cancel").status, 202);  // its slot frees
    std::string status = "queued";
    for (int i = 0; i < 20000 && status == "queued"; ++i) status = get_run(node.port(), id).value("status", "");
    ASSERT_EQ(status, "running");
    auto cancel = http_call(node.port(), "POST", "/v1/runs/" + id + "/cancel");
    ASSERT_EQ(cancel.status, 202) << cancel.body;
    auto done = wait_finished(node.port(), id, 10000);
    EXPECT_EQ(done["status"], "cancelled") << "round " << round << ": " << done.dump().substr(0, 300);
    EXPECT_LT(done["summary"].value("wall_ms", int64_t{0}), 2500) << "it ran on after the cancel";
    wait_finished(node.port(), blocker);
  }
}

TEST(NodeQueue, AQueuedRunIsInterruptedWhenTheNodeIsKilled) {
  auto data = fresh_dir("queue-kill");
  std::string queued;
  {
    node_process node(data, {"--max-runs", "1", "--queue", "1"});
    submit(node.port(), {{"scenario", slow_scenario(30000)}});
    queued = submit(node.port(), {{"scenario", slow_scenario(0)}})["id"].get<std::string>();
    EXPECT_EQ(get_run(node.port(), queued)["status"], "queued");
    node.process().signal(SIGKILL);
    node.process().wait(5000);
  }
  node_process again(data);
  auto doc = get_run(again.port(), queued);
  EXPECT_EQ(doc["status"], "interrupted");
  EXPECT_EQ(doc["error"]["kind"], "interrupted");
}

TEST(NodeQueue, TheConfigFileSetsTheLimitsAndAFlagWins) {
  auto dir = fresh_dir("node-config");
  std::filesystem::create_directories(dir);
  auto config = dir + "/cohort.json";
  std::ofstream(config) << R"({"io_threads": 1, "node": {"max_runs": 1, "queue": 1, "keep_runs": 100, "drain_s": 0}})";
  {
    node_process node(dir + "/store", {}, {"--config", config});
    submit(node.port(), {{"scenario", slow_scenario(5000)}});
    EXPECT_EQ(submit(node.port(), {{"scenario", slow_scenario(0)}})["status"], "queued");
    submit(node.port(), {{"scenario", slow_scenario(0)}}, 429);
  }
  {
    node_process node(dir + "/store2", {"--max-runs", "2", "--queue", "0"}, {"--config", config});
    submit(node.port(), {{"scenario", slow_scenario(5000)}});
    EXPECT_EQ(submit(node.port(), {{"scenario", slow_scenario(5000)}})["status"], "running");
    submit(node.port(), {{"scenario", slow_scenario(0)}}, 429);
  }
  std::ofstream(config) << R"({"node": {"max_runs": "many"}})";
  child_process bad({COHORT_BINARY, "--config", config, "serve", "--port", "0", "--data", dir + "/store3"});
  EXPECT_EQ(bad.wait(10000), 2);
  EXPECT_NE(bad.read_stderr(2000).find(config + ": $.node.max_runs must be an integer"), std::string::npos);
  std::ofstream(config) << R"({"node": {"max_rns": 1}})";
  child_process typo({COHORT_BINARY, "--config", config, "serve", "--port", "0", "--data", dir + "/store3"});
  EXPECT_EQ(typo.wait(10000), 2);
  EXPECT_NE(typo.read_stderr(2000).find("$.node.max_rns is not a node setting"), std::string::npos);
}

}  // namespace
}  // namespace cohort::testing
