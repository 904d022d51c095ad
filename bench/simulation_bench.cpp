// Simulation rounds on the sim model, zero latency.
//  - Simulation/N/R/M: N agents for R rounds (target for 10,000 x 10: under 2 s and
//    under 2 GiB). M=0: each action is the sim model's text; M=1: each action is JSON
//    that sends to both ring neighbours (2N messages a round, delivered next round).
//    Counters: wall_ms, us_per_action, peak_rss_mb (the process's, so run it alone).
//  - FlatFanOutSim/N: the baseline in the same run, N x R sim calls as one fan-out
//    of the same agents: what the actions cost without rounds or messages.

#include <chrono>

#include <benchmark/benchmark.h>

#include "bench/bench_runtime.hpp"

using cohort::bench::peak_rss_mb;
using cohort::bench::runtime;
using nlohmann::json;

namespace {

json sim_model(bool messages) {
  json m{{"provider", "sim"}, {"seed", 1}};
  if (messages)
    m["rules"] = json::array({{{"match", "round (\\d+)"},
                               {"reply", R"({"heard": "{{1}}", "send": {"to": "@neighbours", "content": "{{1}}"}})"}}});
  return m;
}

void Simulation(benchmark::State& state) {
  auto n = state.range(0);
  auto rounds = state.range(1);
  bool messages = state.range(2) == 1;
  json agent{{"model", "sim"}, {"prompt", "{{self.name}}, round {{round}}, heard {{messages}}"}};
  if (messages) agent["output"] = "json";
  auto sc = runtime().load({{"models", {{"sim", sim_model(messages)}}},
                            {"agents", {{"citizen", agent}}},
                            {"workflow",
                             {{"type", "simulation"}, {"rounds", rounds}, {"topology", "ring"}, {"degree", 2},
                              {"transcript", false},
                              {"population", {{{"agent", "citizen"}, {"count", n}, {"name", "c{{index}}"}}}}}}});
  int64_t wall_ms = 0;
  for (auto _ : state) {
    auto started = std::chrono::steady_clock::now();
    auto r = runtime().run(sc);
    wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (!r.ok() || r.output["rounds"] != rounds) state.SkipWithError(("simulation failed: " + r.error).c_str());
    if (messages && r.reports["workflow"]["messages"] != 2 * n * rounds) state.SkipWithError("messages went missing");
  }
  state.counters["wall_ms"] = static_cast<double>(wall_ms);
  state.counters["us_per_action"] = 1000.0 * static_cast<double>(wall_ms) / static_cast<double>(n * rounds);
  state.counters["peak_rss_mb"] = peak_rss_mb();
}
BENCHMARK(Simulation)->Args({10000, 10, 0})->Args({10000, 10, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

void FlatFanOutSim(benchmark::State& state) {
  auto n = state.range(0);
  json items = json::array();
  for (int64_t i = 0; i < n; ++i) items.push_back("c" + std::to_string(i));
  auto sc = runtime().load({{"models", {{"sim", sim_model(false)}}},
                            {"agents", {{"citizen", {{"model", "sim"}, {"prompt", "{{item}}, round 1, heard []"}}}}},
                            {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "citizen"}}},
                            {"input", {{"items", items}}}});
  int64_t wall_ms = 0;
  for (auto _ : state) {
    auto started = std::chrono::steady_clock::now();
    auto r = runtime().run(sc);
    wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (!r.ok()) state.SkipWithError(("fan-out failed: " + r.error).c_str());
  }
  state.counters["wall_ms"] = static_cast<double>(wall_ms);
  state.counters["us_per_action"] = 1000.0 * static_cast<double>(wall_ms) / static_cast<double>(n);
}
BENCHMARK(FlatFanOutSim)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
