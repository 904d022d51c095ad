// Retention on a real `cohort serve`: --keep-runs and --keep-days prune ended runs in the
// background, from the store too (a restart does not bring them back); running runs and
// the results of the kept ones stay whole.
#include <chrono>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

std::set<std::string> listed(int port) {
  std::set<std::string> ids;
  auto page = json::parse(http_call(port, "GET", "/v1/runs?limit=1000").body, nullptr, false);
  if (page.is_object())
    for (const auto& r : page["runs"]) ids.insert(r["id"].get<std::string>());
  return ids;
}

// Polls the listing until it has `count` runs (or 10 s).
std::set<std::string> wait_listed(int port, size_t count) {
  auto ids = listed(port);
  for (int i = 0; i < 500 && ids.size() != count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ids = listed(port);
  }
  return ids;
}

TEST(NodeRetention, KeepRunsKeepsTheNewestEndedOnesAndARunningOne) {
  auto data = fresh_dir("keep-runs");
  std::vector<std::string> ids;
  std::string running;
  {
    node_process node(data, {"--keep-runs", "2"});
    for (int i = 0; i < 4; ++i) {
      auto id = submit(node.port(), {{"scenario", slow_scenario(0)}})["id"].get<std::string>();
      ASSERT_EQ(wait_finished(node.port(), id)["status"], "succeeded");
      ids.push_back(id);
    }
    running = submit(node.port(), {{"scenario", slow_scenario(30000)}})["id"].get<std::string>();
    auto kept = wait_listed(node.port(), 3);
    EXPECT_EQ(kept, (std::set<std::string>{ids[2], ids[3], running}));
    EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs/" + ids[0]).status, 404);
    EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs/" + ids[0] + "/events").status, 404);
    auto doc = json::parse(http_call(node.port(), "GET", "/v1/runs/" + ids[3]).body);
    EXPECT_EQ(doc["status"], "succeeded");
    EXPECT_TRUE(doc["output"].is_string()) << doc;
    node.process().signal(SIGKILL);
    node.process().wait(5000);
  }
  // The store forgot them too. The running run was cut off: it ended (interrupted), so
  // of three ended runs the oldest goes at start. The kept result comes whole from disk.
  node_process again(data, {"--keep-runs", "2"});
  auto kept = listed(again.port());
  EXPECT_EQ(kept, (std::set<std::string>{ids[3], running}));
  EXPECT_EQ(json::parse(http_call(again.port(), "GET", "/v1/runs/" + running).body)["status"], "interrupted");
  auto doc = json::parse(http_call(again.port(), "GET", "/v1/runs/" + ids[3]).body);
  EXPECT_EQ(doc["status"], "succeeded");
  EXPECT_TRUE(doc["output"].is_string()) << doc;
  EXPECT_EQ(doc["branches"]["succeeded"], 1);
  EXPECT_TRUE(doc.contains("usage")) << doc;
}

TEST(NodeRetention, KeepDaysPrunesRunsOlderThanTheLimit) {
  // 0.00003 days is 2.6 s.
  node_process node(fresh_dir("keep-days"), {"--keep-days", "0.00003"});
  auto id = submit(node.port(), {{"scenario", slow_scenario(0)}})["id"].get<std::string>();
  ASSERT_EQ(wait_finished(node.port(), id)["status"], "succeeded");
  EXPECT_EQ(listed(node.port()).size(), 1u);
  auto gone = wait_listed(node.port(), 0);
  EXPECT_TRUE(gone.empty());
  EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs/" + id).status, 404);
}

}  // namespace
}  // namespace cohort::testing
