// The model pool against real `cohort mock-llm` processes on 127.0.0.1: balancing,
// affinity, failover when a server dies mid-run, rate limits, Retry-After, the
// circuit breaker's open / half-open / closed cycle, and cancellation through the pool.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::mock_llm_process;
using cohort::testing::mock_stats;
using cohort::testing::test_options;
using cohort::testing::wait_stats;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

using mocks = std::vector<std::unique_ptr<mock_llm_process>>;

mocks start_mocks(size_t n, const std::vector<std::string>& args) {
  mocks out;
  for (size_t i = 0; i < n; ++i) out.push_back(std::make_unique<mock_llm_process>(args));
  return out;
}

// An openai model over these servers; `extra` adds or overrides model keys.
json pool_model(const mocks& servers, const json& extra = json::object()) {
  json endpoints = json::array();
  for (const auto& m : servers) endpoints.push_back({{"base_url", m->base_url()}});
  json model{{"provider", "openai"}, {"endpoints", endpoints}};
  model.update(extra);
  return model;
}

// A fan_out of `n` calls of agent "a" (each prompt distinct).
json fan_out(const json& model, int n, int max_concurrency = 0) {
  json items = json::array();
  for (int i = 0; i < n; ++i) items.push_back(i);
  json step{{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}};
  if (max_concurrency > 0) step["max_concurrency"] = max_concurrency;
  return {{"models", {{"m", model}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
          {"workflow", step},
          {"input", {{"xs", items}}}};
}

int64_t requests_of(const mock_llm_process& m) {
  auto s = mock_stats(m.port());
  return s.is_discarded() ? -1 : s["requests"].get<int64_t>();
}

std::vector<int64_t> requests_of(const mocks& servers) {
  std::vector<int64_t> out;
  for (const auto& m : servers) out.push_back(requests_of(*m));
  return out;
}

json pool_endpoint(cohort::Runtime& rt, size_t i) { return rt.model_pool_stats().at(0)["endpoints"].at(i); }

int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

}  // namespace

TEST(ModelPool, BalancesLoadEvenlyAcrossThreeServers) {
  auto servers = start_mocks(3, {"--latency-ms", "10"});
  cohort::Runtime rt(test_options());
  // A steady load of 30 calls in flight, below the servers' 3 x 64 slots.
  auto r = rt.run(rt.load(fan_out(pool_model(servers), 300, 30)));
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.output.size(), 300u);
  auto counts = requests_of(servers);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GE(counts[i], 85) << "server " << i << " got too few of 300: " << counts[i];
    EXPECT_LE(counts[i], 115) << "server " << i << " got too many of 300: " << counts[i];
  }
  EXPECT_EQ(counts[0] + counts[1] + counts[2], 300);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(pool_endpoint(rt, i)["requests"], counts[i]);
}

TEST(ModelPool, RunAffinityKeepsEachRunOnOneServer) {
  auto servers = start_mocks(3, {"--latency-ms", "5"});
  cohort::Runtime rt(test_options());
  auto sc = rt.load(fan_out(pool_model(servers, {{"affinity", "run"}}), 12));
  std::set<size_t> used;
  auto before = requests_of(servers);
  for (int run = 0; run < 6; ++run) {
    auto r = rt.run(sc);
    ASSERT_TRUE(r.ok()) << r.error;
    auto after = requests_of(servers);
    int servers_hit = 0;
    for (size_t i = 0; i < 3; ++i) {
      auto got = after[i] - before[i];
      if (got == 0) continue;
      ++servers_hit;
      EXPECT_EQ(got, 12) << "run " << run << ": its 12 calls were split across servers";
      used.insert(i);
    }
    EXPECT_EQ(servers_hit, 1) << "run " << run;
    before = after;
  }
  EXPECT_EQ(used.size(), 3u) << "new runs should spread over the servers";
}

TEST(ModelPool, AgentAffinityKeepsEachAgentsCallsOnOneServer) {
  auto servers = start_mocks(3, {"--latency-ms", "5"});
  cohort::Runtime rt(test_options());
  json items = json::array({1, 2, 3, 4, 5, 6, 7, 8});
  auto sc = rt.load({{"models", {{"m", pool_model(servers, {{"affinity", "agent"}})}}},
                     {"agents", {{"a", {{"model", "m"}, {"prompt", "first {{item}}"}}},
                                 {"b", {{"model", "m"}, {"prompt", "second {{item}}"}}}}},
                     {"workflow", {{"type", "pipeline"},
                                   {"steps", {{{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}},
                                              {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "b"}}}}}},
                     {"input", {{"xs", items}}}});
  auto r = rt.run(sc);
  ASSERT_TRUE(r.ok()) << r.error;
  auto counts = requests_of(servers);
  std::sort(counts.begin(), counts.end());
  // Eight concurrent calls per agent, each agent on one server (a new agent goes to
  // the next idle one); without affinity they would spread 3/3/2.
  EXPECT_EQ(counts, (std::vector<int64_t>{0, 8, 8}));
}

TEST(ModelPool, AServerKilledMidRunFailsOverAndTheRunSucceeds) {
  auto servers = start_mocks(3, {"--latency-ms", "30"});
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(fan_out(pool_model(servers), 300, 30)));
  auto& victim = *servers[2];
  auto seen = wait_stats(victim.port(), [](const json& s) { return s["requests"] >= 20; });
  ASSERT_GE(seen["requests"], 20) << seen.dump();
  victim.process().signal(SIGKILL);
  ASSERT_NE(victim.process().wait(3000), -1);
  auto r = run.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error;
  EXPECT_EQ(r->output.size(), 300u);
  EXPECT_EQ(r->branches.succeeded, 300);
  EXPECT_EQ(r->summary.retries, 0) << "the pool, not the workflow, should have absorbed the failures";
  auto dead = pool_endpoint(rt, 2);
  EXPECT_GE(dead["failures"], 1) << dead.dump();
  EXPECT_GE(dead["failovers"], 1) << dead.dump();
  EXPECT_EQ(dead["breaker"], "open") << dead.dump();
  int64_t answered = 0;
  for (size_t i = 0; i < 3; ++i) answered += pool_endpoint(rt, i)["succeeded"].get<int64_t>();
  EXPECT_EQ(answered, 300);
}

TEST(ModelPool, RequestsPerMinuteLimitHolds) {
  auto servers = start_mocks(1, {});
  cohort::Runtime rt(test_options());
  auto sc = rt.load(fan_out(pool_model(servers, {{"rpm", 600}}), 30));  // 10/s, bursts of 10
  auto start = clock_type::now();
  auto run = rt.start(sc);
  std::optional<cohort::RunResult> r;
  int64_t worst_excess = -1000;
  while (!(r = run.wait_for(std::chrono::milliseconds(20)))) {
    auto n = requests_of(*servers[0]);
    auto allowed = 10 + 10 * ms_since(start) / 1000.0;
    worst_excess = std::max<int64_t>(worst_excess, static_cast<int64_t>(n - allowed));
  }
  auto wall = ms_since(start);
  ASSERT_TRUE(r->ok()) << r->error;
  EXPECT_LE(worst_excess, 1) << "more requests than 10 + 10/s allow";
  EXPECT_GE(wall, 1900) << "30 requests at 10/s after a burst of 10 take 2 s";
  EXPECT_LE(wall, 4000);
  EXPECT_EQ(requests_of(*servers[0]), 30);
}

TEST(ModelPool, TokensPerMinuteLimitHolds) {
  auto servers = start_mocks(1, {});
  cohort::Runtime rt(test_options());
  // 100 tokens a second; each call reserves its prompt plus max_tokens up front and
  // settles with the real usage.
  auto sc = rt.load(fan_out(pool_model(servers, {{"tpm", 6000}, {"params", {{"max_tokens", 40}}}}), 12));
  auto start = clock_type::now();
  auto r = rt.run(sc);
  auto wall = ms_since(start);
  ASSERT_TRUE(r.ok()) << r.error;
  auto used = pool_endpoint(rt, 0)["tokens"].get<double>();
  auto per_call = used / 12;
  ASSERT_GT(per_call, 5) << "the mock should report usage";
  // Everything beyond the first second's 100 (plus one call's overrun) had to wait.
  EXPECT_GE(wall, (used - 100 - per_call) / 100 * 1000 * 0.9) << "used " << used << " tokens in " << wall << " ms";
}

TEST(ModelPool, RetryAfterPausesThatEndpointWhileOthersServe) {
  mocks servers;
  servers.push_back(std::make_unique<mock_llm_process>(std::vector<std::string>{
      "--latency-ms", "20", "--fail-first", "1", "--fail-first-with", "429", "--retry-after", "1"}));
  servers.push_back(std::make_unique<mock_llm_process>(std::vector<std::string>{"--latency-ms", "20"}));
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(fan_out(pool_model(servers), 120, 2)));
  auto& limited = *servers[0];
  clock_type::time_point first{}, second{};
  std::optional<cohort::RunResult> r;
  while (!(r = run.wait_for(std::chrono::milliseconds(5)))) {
    auto n = requests_of(limited);
    auto now = clock_type::now();
    if (n >= 1 && first == clock_type::time_point{}) first = now;
    if (n >= 2 && second == clock_type::time_point{}) second = now;
  }
  ASSERT_TRUE(r->ok()) << r->error;
  ASSERT_NE(first, clock_type::time_point{}) << "the limited server saw no request";
  ASSERT_NE(second, clock_type::time_point{}) << "the limited server never came back";
  auto paused = std::chrono::duration_cast<std::chrono::milliseconds>(second - first).count();
  EXPECT_GE(paused, 950) << "Retry-After: 1 was not honoured";
  EXPECT_LE(paused, 1600);
  auto s = pool_endpoint(rt, 0);
  EXPECT_EQ(s["rate_limited"], 1) << s.dump();
  EXPECT_EQ(s["failovers"], 1) << s.dump();
  EXPECT_EQ(r->summary.retries, 0);
  EXPECT_GE(pool_endpoint(rt, 1)["requests"].get<int64_t>(), 40) << "the other server kept serving";
}

TEST(ModelPool, BreakerOpensProbesAndClosesWhenTheServerIsBack) {
  mocks servers = start_mocks(2, {"--latency-ms", "5"});
  auto port = servers[0]->port();
  cohort::Runtime rt(test_options());
  auto sc = rt.load(fan_out(pool_model(servers, {{"breaker", {{"failures", 3}, {"open_ms", 800}}}}), 1));
  auto call = [&] {
    auto r = rt.run(sc);
    ASSERT_TRUE(r.ok()) << r.error;
  };
  servers[0]->process().signal(SIGKILL);
  ASSERT_NE(servers[0]->process().wait(3000), -1);

  // Closed -> open: three refused calls (each failed over to the other server).
  call();  // the pool is made by the first run
  for (int i = 0; i < 20 && pool_endpoint(rt, 0)["breaker"] != "open"; ++i) call();
  auto s = pool_endpoint(rt, 0);
  ASSERT_EQ(s["breaker"], "open") << s.dump();
  EXPECT_EQ(s["requests"], 3);
  EXPECT_EQ(s["failures"], 3);
  EXPECT_EQ(s["breaker_opened"], 1);
  auto opened = clock_type::now();

  // While open nothing goes there.
  while (ms_since(opened) < 500) call();
  EXPECT_EQ(pool_endpoint(rt, 0)["requests"], 3);

  // Half-open: the next call probes it; refused again, so open again.
  std::this_thread::sleep_for(std::chrono::milliseconds(850 - ms_since(opened)));
  call();
  s = pool_endpoint(rt, 0);
  EXPECT_EQ(s["requests"], 4) << s.dump();
  EXPECT_EQ(s["probes"], 1);
  EXPECT_EQ(s["breaker"], "open");
  EXPECT_EQ(s["breaker_opened"], 2);
  auto reopened = clock_type::now();

  // The server comes back on the same port; the next probe finds it and closes the breaker.
  mock_llm_process back({"--latency-ms", "300"}, port);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(0, 850 - ms_since(reopened))));
  auto probe = rt.start(sc);
  auto during = wait_stats(port, [](const json& st) { return st["in_flight"] == 1; });
  ASSERT_EQ(during["in_flight"], 1) << during.dump();
  s = pool_endpoint(rt, 0);
  EXPECT_EQ(s["breaker"], "half_open") << s.dump();
  EXPECT_EQ(s["in_flight"], 1);
  auto r = probe.wait_for(std::chrono::seconds(5));
  ASSERT_TRUE(r && r->ok());
  s = pool_endpoint(rt, 0);
  EXPECT_EQ(s["breaker"], "closed") << s.dump();
  EXPECT_EQ(s["probes"], 2);
  // Back in the rotation.
  for (int i = 0; i < 4; ++i) call();
  EXPECT_GE(requests_of(back), 3);
}

TEST(ModelPool, WithEveryBreakerOpenCallsFailAtOnce) {
  auto servers = start_mocks(1, {});
  cohort::Runtime rt(test_options());
  auto sc = rt.load(fan_out(pool_model(servers, {{"breaker", {{"failures", 2}, {"open_ms", 60000}}}}), 1));
  servers[0]->process().signal(SIGKILL);
  ASSERT_NE(servers[0]->process().wait(3000), -1);
  for (int i = 0; i < 2; ++i) {
    auto r = rt.run(sc);
    EXPECT_EQ(r.status, "failed");
    EXPECT_NE(r.error.find("connection refused"), std::string::npos) << r.error;
  }
  auto start = clock_type::now();
  auto r = rt.run(sc);
  EXPECT_EQ(r.status, "failed");
  EXPECT_NE(r.error.find("every endpoint is out of service"), std::string::npos) << r.error;
  EXPECT_LT(ms_since(start), 500);
  auto s = pool_endpoint(rt, 0);
  EXPECT_EQ(s["requests"], 2) << s.dump();
  EXPECT_EQ(s["breaker"], "open");
}

TEST(ModelPool, CancelReachesInFlightCallsThroughThePool) {
  auto servers = start_mocks(2, {"--latency-ms", "20000"});
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(fan_out(pool_model(servers), 6)));
  auto in_flight = [&] {
    int64_t n = 0;
    for (auto& m : servers) n += mock_stats(m->port())["in_flight"].get<int64_t>();
    return n;
  };
  for (int i = 0; i < 300 && in_flight() < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(in_flight(), 6);
  run.cancel();
  auto r = run.wait_for(std::chrono::seconds(2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "cancelled");
  EXPECT_EQ(r->branches.cancelled, 6);
  for (auto& m : servers) {
    auto s = wait_stats(m->port(), [](const json& s) { return s["in_flight"] == 0 && s["open_connections"] == 0; });
    EXPECT_EQ(s["client_cancellations"], 3) << s.dump();
    EXPECT_EQ(s["open_connections"], 0) << s.dump();
  }
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(pool_endpoint(rt, i)["in_flight"], 0);
}
