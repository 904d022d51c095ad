// Pattern benchmarks.
//  - DagNoop/N: a random DAG of N no-op tool nodes (each waits for up to three random
//    earlier nodes), through the DAG supervisor. Counter us_per_node; target <= 10.
//  - FanOutSim/N (the baseline, same run), RaceSim/N, VoteSim/N: N sim agents with no
//    latency as a fan-out, a race (the first answer wins, the others are cancelled) and
//    a vote (three answers drawn at random, counted until decided). Counter us_per_branch.
//  - ChainedFanOuts/N/S: S fan-outs of N sim agents in a pipeline, each over the
//    results of the one before (S = 1 is the baseline). Every branch inherits those N
//    results: shared, so us_per_branch stays flat as N grows (it was quadratic).
//  - BusinessPlanDag: seed 004's business-plan DAG (9 nodes, 4 layers) on sim latencies
//    of 100-300 ms. Counter efficiency: critical path over wall time; target >= 0.95.
#include <random>

#include <benchmark/benchmark.h>

#include "bench/bench_runtime.hpp"

using cohort::bench::runtime;
using nlohmann::json;

namespace {

json random_dag(size_t n) {
  std::mt19937 rng(42);
  auto nodes = json::array();
  for (size_t i = 0; i < n; ++i) {
    json node{{"id", "n" + std::to_string(i)}, {"agent", "noop"}};
    if (i > 0) {
      auto deps = json::array();
      for (int k = static_cast<int>(rng() % 4); k > 0; --k) deps.push_back("n" + std::to_string(rng() % i));
      std::sort(deps.begin(), deps.end());
      deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
      node["depends_on"] = deps;
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

void DagNoop(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  auto sc = runtime().load({{"models", json::object()},
                            {"agents", {{"noop", {{"type", "tool"}, {"tool", "echo"}}}}},
                            {"workflow", {{"type", "dag"}, {"nodes", random_dag(n)}, {"output", "n0"}}}});
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(("dag failed: " + r.error).c_str());
  }
  state.counters["us_per_node"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(DagNoop)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// N sim agents with no latency under one pattern; answers drawn from three at random.
cohort::Scenario sim_pattern(const std::string& type, size_t n) {
  json agents = json::array();
  for (size_t i = 0; i < n; ++i) agents.push_back("a");
  json workflow{{"type", type}, {"agents", agents}};
  return runtime().load({{"models", {{"m", {{"provider", "sim"}, {"latency_ms", 0}, {"seed", 3},
                                            {"rules", {{{"match", "."}, {"choices", {"red", "green", "blue"}}}}}}}}},
                         {"agents", {{"a", {{"model", "m"}, {"prompt", "pick a colour"}}}}},
                         {"workflow", workflow}});
}

void run_pattern(benchmark::State& state, const std::string& type) {
  auto n = static_cast<size_t>(state.range(0));
  auto sc = sim_pattern(type, n);
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError((type + " failed: " + r.error).c_str());
  }
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void FanOutSim(benchmark::State& state) { run_pattern(state, "fan_out"); }
void RaceSim(benchmark::State& state) { run_pattern(state, "race"); }
void VoteSim(benchmark::State& state) { run_pattern(state, "vote"); }
BENCHMARK(FanOutSim)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(RaceSim)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(VoteSim)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void ChainedFanOuts(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  auto steps = static_cast<size_t>(state.range(1));
  json items = json::array();
  for (size_t i = 0; i < n; ++i) items.push_back(i);
  json pipeline = json::array();
  for (size_t s = 0; s < steps; ++s)
    pipeline.push_back({{"type", "fan_out"}, {"over", s == 0 ? "input.items" : "results"}, {"agent", "a"}});
  auto sc = runtime().load({{"models", {{"m", {{"provider", "sim"}, {"latency_ms", 0}}}}},
                            {"agents", {{"a", {{"model", "m"}, {"prompt", "step on {{item}}"}}}}},
                            {"workflow", {{"type", "pipeline"}, {"steps", pipeline}}},
                            {"input", {{"items", items}}}});
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(("chained fan-outs failed: " + r.error).c_str());
  }
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n * steps) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(ChainedFanOuts)->Args({1000, 1})->Args({1000, 3})->Args({10000, 1})->Args({10000, 3})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BusinessPlanDag(benchmark::State& state) {
  auto node = [](const char* id, const char* role, const char* task, json deps) {
    return json{{"id", id}, {"agent", role}, {"with", {{"task", task}}}, {"depends_on", std::move(deps)}};
  };
  json agents;
  for (auto role : {"researcher", "planner", "analyzer", "writer", "critic", "synthesizer"})
    agents[role] = {{"model", "m"}, {"prompt", std::string("As the ") + role + ": {{task}}. Inputs: {{deps}}"}};
  auto sc = runtime().load(
      {{"models", {{"m", {{"provider", "sim"}, {"latency_ms", {{"min", 100}, {"max", 300}}}, {"seed", 11}}}}},
       {"agents", agents},
       {"workflow", {{"type", "dag"}, {"output", "plan"}, {"nodes", {
          node("market", "researcher", "Market size and trends", json::array()),
          node("competition", "researcher", "Competitive landscape", json::array()),
          node("financials", "planner", "Financial projections", json::array()),
          node("operations", "planner", "Operational framework", json::array()),
          node("analysis", "analyzer", "Market analysis", {"market", "competition"}),
          node("summary", "writer", "Executive summary", {"market", "competition"}),
          node("review_fin", "critic", "Review financials", {"financials", "analysis"}),
          node("review_ops", "critic", "Review operations", {"operations", "analysis"}),
          node("plan", "synthesizer", "Final business plan", {"summary", "review_fin", "review_ops"})}}}}});
  double efficiency = 0;
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(("business plan failed: " + r.error).c_str());
    else efficiency += r.reports["workflow"]["efficiency"].get<double>();
  }
  state.counters["efficiency"] = efficiency / static_cast<double>(state.iterations());
}
BENCHMARK(BusinessPlanDag)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

}  // namespace
