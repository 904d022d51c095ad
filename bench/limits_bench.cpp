// Concurrency limits and failure handling.
//  - BoundedFanOut/N/W: a fan-out of N no-op tool agents, 100 at a time: W=0 by the
//    fan-out's max_concurrency, W=1 by the run-wide max_concurrency (the resource queue);
//    run.sh runs 10,000 and 100,000 in processes of their own and compares their peak
//    memory (memory should follow what is in flight, not what is queued).
//  - RetryPolicy/N/P: N sim agents without latency, each with a retry policy, failing
//    P% of their attempts: /0 is the baseline (policy, no failures), /50 pays for about
//    N retries. Counter us_per_branch, retries.
//  - TimedOutBranches/N: N sim agents that never answer in time (1 ms timeout, 60 s
//    latency): each is timed out, its model call withdrawn and the agent stopped; the
//    1 ms itself is subtracted. Compare with RetryPolicy/N/0.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <benchmark/benchmark.h>

#include "bench/bench_runtime.hpp"

using cohort::bench::peak_rss_mb;
using cohort::bench::runtime;
using nlohmann::json;

namespace {

double current_rss_mb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

json range(size_t n) {
  json items = json::array();
  for (size_t i = 0; i < n; ++i) items.push_back(i);
  return items;
}

void BoundedFanOut(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  bool run_wide = state.range(1) == 1;
  json doc{{"models", json::object()},
           {"agents", {{"noop", {{"type", "tool"}, {"tool", "echo"}}}}},
           {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"agent", "noop"}}},
           {"input", range(n)}};
  if (run_wide) doc["max_concurrency"] = 100;
  else doc["workflow"]["max_concurrency"] = 100;
  auto sc = runtime().load(doc);
  // The input list itself (n numbers) is resident before the run starts: the run's own
  // growth above that is what must follow the in-flight count.
  double before_mb = current_rss_mb();
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(r.error.c_str());
  }
  state.counters["peak_rss_mb"] = peak_rss_mb();
  state.counters["run_growth_mb"] = peak_rss_mb() - before_mb;
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BoundedFanOut)->Args({10000, 0})->Args({100000, 0})->Args({10000, 1})->Args({100000, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Sim agents without latency, each with a retry policy; with failure_rate 0.5, half of
// the attempts fail and are tried again (a retry is a new draw).
void RetryPolicy(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  double failure_rate = static_cast<double>(state.range(1)) / 100.0;
  auto sc = runtime().load(
      {{"models", {{"m", {{"provider", "sim"}, {"latency_ms", 0}, {"failure_rate", failure_rate}}}}},
       {"agents", {{"a", {{"model", "m"}, {"prompt", "{{item}}"}}}}},
       {"retry_budget", 10000000},
       {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"policy", "all_settled"},
                     {"do", {{"agent", "a"}, {"retry", {{"max_attempts", 20}, {"backoff_ms", 0}, {"retry_on", {"server_error"}}}}}}}},
       {"input", range(n)}});
  int64_t retries = 0;
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok() || r.branches.succeeded != static_cast<int64_t>(n)) state.SkipWithError("branches failed");
    retries += r.summary.retries;
  }
  state.counters["retries"] = static_cast<double>(retries) / static_cast<double>(state.iterations());
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(RetryPolicy)->Args({10000, 0})->Args({10000, 50})->Unit(benchmark::kMillisecond)->UseRealTime();

void TimedOutBranches(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  auto sc = runtime().load(
      {{"models", {{"m", {{"provider", "sim"}, {"latency_ms", 60000}}}}},
       {"agents", {{"a", {{"model", "m"}, {"prompt", "{{item}}"}, {"timeout_ms", 1}}}}},
       {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"policy", "all_settled"}, {"agent", "a"}}},
       {"input", range(n)}});
  for (auto _ : state) {
    auto started = std::chrono::steady_clock::now();
    auto r = runtime().run(sc);
    if (r.branches.timed_out != static_cast<int64_t>(n)) state.SkipWithError("not every branch timed out");
    auto spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() - 0.001;
    state.SetIterationTime(spent);
  }
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(TimedOutBranches)->Arg(10000)->Unit(benchmark::kMillisecond)->UseManualTime();

}  // namespace
