// Workers that listen (`cohort worker --listen`) and the heads that invite them: a head
// node's config names its workers, `cohort serve` keeps inviting them (so one that
// restarts is taken again) and `cohort run --config` uses the same list.
#include <csignal>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

// A worker listening on 127.0.0.1:`port` (0: any); its address is what it printed.
std::unique_ptr<child_process> listening_worker(const std::string& name, std::string& address, int port = 0) {
  auto w = std::make_unique<child_process>(std::vector<std::string>{
      COHORT_BINARY, "--log-level", "info", "worker", "--listen", "127.0.0.1:" + std::to_string(port), "--name", name});
  auto line = w->read_line(10000);
  if (line.find("listening on 127.0.0.1:") == std::string::npos)
    throw std::runtime_error("the worker did not listen: \"" + line + "\"");
  address = line.substr(line.rfind(' ') + 1);
  return w;
}

json invited_scenario(int items) {
  auto list = json::array();
  for (int i = 0; i < items; ++i) list.push_back(i);
  return {{"name", "invited"},
          {"models", {{"m", {{"provider", "sim"}, {"seed", 3}, {"latency_ms", 5}}}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "item {{item}}"}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "a"}}}}},
          {"input", {{"items", list}}}};
}

json cluster_of(const node_process& head) {
  return json::parse(http_call(head.port(), "GET", "/v1/cluster").body, nullptr, false);
}

// Polls the head's /v1/cluster until a worker of this name has joined; its entry (or null).
json joined_worker(const node_process& head, const std::string& name) {
  for (int i = 0; i < 500; ++i) {
    auto c = cluster_of(head);
    if (c.is_object() && c.contains("workers"))
      for (const auto& w : c["workers"])
        if (w["name"] == name) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return nullptr;
}

int64_t done_by(const node_process& head, const std::string& name) {
  auto c = cluster_of(head);
  for (const auto& w : c["workers"])
    if (w["name"] == name) return w["done"].get<int64_t>();
  return -1;
}

TEST(ClusterInvitation, AHeadsConfigNamesItsWorkersAndServeKeepsInvitingThem) {
  std::string address;
  auto first = listening_worker("first", address);
  int port = std::stoi(address.substr(address.rfind(':') + 1));
  auto config = fresh_dir("invitation-config") + ".json";
  std::ofstream(config) << json{{"node", {{"workers", {address}}}}}.dump();
  auto file = fresh_dir("invitation-scenario") + ".json";
  std::ofstream(file) << invited_scenario(30).dump();

  // `cohort run` with the node's config invites the worker it names.
  child_process run({COHORT_BINARY, "--config", config, "run", file, "--json", "-q"});
  auto out = json::parse(run.read_all(30000), nullptr, false);
  ASSERT_EQ(run.wait(5000), 0) << run.read_stderr(1000);
  EXPECT_EQ(out["status"], "succeeded") << out;
  EXPECT_EQ(out["output"].size(), 30u) << out;
  EXPECT_NE(first->read_stderr(2000).find("invited and joined"), std::string::npos) << "the run did not invite it";

  // `cohort serve` with the same config: no cluster port, its workers by invitation.
  node_process head(fresh_dir("invitation-head"), {}, {"--config", config});
  ASSERT_FALSE(joined_worker(head, "first").is_null()) << cluster_of(head);
  auto c = cluster_of(head);
  ASSERT_EQ(c["invited"].size(), 1u) << c;
  EXPECT_EQ(c["invited"][0]["address"], address);
  EXPECT_EQ(c["invited"][0]["accepted"], true) << c;
  auto id = submit(head.port(), {{"scenario", invited_scenario(40)}})["id"].get<std::string>();
  EXPECT_EQ(wait_finished(head.port(), id, 30000)["status"], "succeeded");
  EXPECT_EQ(done_by(head, "first"), 40) << cluster_of(head);

  // The worker dies and another starts at the same address: the head takes it unasked.
  first->signal(SIGKILL);
  first->wait(5000);
  std::string again;
  auto second = listening_worker("second", again, port);
  ASSERT_FALSE(joined_worker(head, "second").is_null()) << cluster_of(head);
  id = submit(head.port(), {{"scenario", invited_scenario(20)}})["id"].get<std::string>();
  EXPECT_EQ(wait_finished(head.port(), id, 30000)["status"], "succeeded");
  EXPECT_EQ(done_by(head, "second"), 20) << cluster_of(head);
  EXPECT_EQ(cluster_of(head)["workers"].size(), 1u) << "the dead one is gone";
}

}  // namespace
}  // namespace cohort::testing
