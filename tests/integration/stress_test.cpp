// Stress: 2,000 branches against a real `cohort mock-llm` injecting 20% mixed faults
// (429, 500, malformed, hang, drop), with per-branch timeouts and retries. Every branch
// ends in exactly one final state, the counts add up, the run ends, nothing is left.
#include <thread>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::mock_llm_process;
using cohort::testing::wait_stats;
using nlohmann::json;

TEST(Stress, TwoThousandBranchesWithTwentyPercentFaults) {
  mock_llm_process mock({"--fault-rate", "0.2", "--seed", "11", "--latency-ms", "0-20", "--threads", "2"});
  auto options = cohort::RuntimeOptions::defaults();
  options.run_timeout_ms = 60000;
  cohort::Runtime rt(options);
  json xs = json::array();
  for (int i = 0; i < 2000; ++i) xs.push_back(i);
  auto sc = rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"max_in_flight", 64}}}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "task {{item}}"}, {"timeout_ms", 1000}}}}},
                     {"retry_budget", 100000},
                     {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"policy", "all_settled"}, {"max_concurrency", 500},
                                   {"do", {{"agent", "a"}, {"retry", {{"max_attempts", 2}, {"backoff_ms", 20}}}}}}},
                     {"input", xs}});
  // One call first: the endpoint's HTTP client actor is made once and kept (keep-alive).
  rt.run(rt.load({{"models", {{"m", {{"provider", "openai"}, {"base_url", mock.base_url()}}}}},
                  {"agents", {{"a", {{"model", "m"}, {"prompt", "warm {{input}}"}, {"params", {{"mock_fault", "none"}}}}}}},
                  {"workflow", {{"agent", "a"}}}}));
  auto baseline = cohort::testing::quiet_live_actors(rt);
  auto run = rt.start(sc);
  auto r = run.wait_for(std::chrono::seconds(50));
  ASSERT_TRUE(r.has_value()) << "the run did not finish";
  ASSERT_TRUE(r->ok()) << r->error;
  const auto& b = r->branches;
  EXPECT_EQ(b.succeeded + b.failed + b.timed_out + b.cancelled, 2000) << r->to_json()["branches"].dump();
  EXPECT_EQ(b.cancelled, 0);
  // 20% faults, one retry each: about 4% of branches fail twice.
  EXPECT_GT(b.succeeded, 1800);
  EXPECT_GT(b.failed + b.timed_out, 0);
  EXPECT_GT(r->summary.retries, 200);
  const auto& rep = r->reports.at("workflow");
  EXPECT_EQ(rep["succeeded"].get<int64_t>(), b.succeeded);
  EXPECT_EQ(rep["failures"].size(), static_cast<size_t>(b.failed + b.timed_out));
  EXPECT_EQ(r->output.size(), static_cast<size_t>(b.succeeded));
  for (int i = 0; i < 300 && rt.live_actors() != baseline; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rt.live_actors(), baseline);
  auto s = wait_stats(mock.port(), [](const json& s) { return s["in_flight"] == 0; });
  EXPECT_EQ(s["in_flight"], 0) << s.dump();  // hung requests were closed by their timeouts
  EXPECT_LE(s["open_connections"].get<int>(), 64) << s.dump();  // only idle keep-alive ones
  // The runtime's own count agrees with the server's, once the server has seen the last
  // closes (it counts them a moment after the client).
  auto server_count = [&] { return cohort::testing::mock_stats(mock.port()).value("open_connections", size_t{0}); };
  for (int i = 0; i < 200 && rt.open_connections() != server_count(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rt.open_connections(), server_count());
}
