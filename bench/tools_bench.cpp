// Tool-loop benchmarks: agents that make 3 turns, the first two with 2 parallel calls of
// the no-op `echo` tool (8 branches an agent: 3 turns, 4 calls, the loop itself).
//  - ToolLoopSim/N: N such agents on the sim model with no latency, next to the same
//    model calls and tool calls made without the loop, each agent's as a pipeline (ask,
//    two echoes in a fan-out, ask, two echoes, ask): the baseline, same iteration.
//    Counter overhead_us_per_turn: what the loop adds to a turn beyond the engine's cost
//    of its model call and tools (aim <= 20).
//  - ToolLoopHttp/N: N such agents against a real `cohort mock-llm` at 50 ms that scripts
//    the calls (run.sh starts it with COHORT_TOOLS_MOCK_PORT), next to N plain calls to
//    the same server (the baseline, same iteration). Counter vs_three_plain: the loop's
//    wall time over three plain waves of N calls (aim <= 1.3). Counter
//    vs_latency_plus_plain: the words read literally, the loop's wall time over
//    3 x 50 ms plus one plain wave (a stricter reading: one wave's overhead, not three).
#include <chrono>
#include <cstdlib>

#include <benchmark/benchmark.h>

#include "bench/bench_runtime.hpp"

using cohort::bench::runtime;
using nlohmann::json;

namespace {

// The rule the sim model and the mock both follow: two turns of two calls, then a reply.
json tool_rules() {
  auto two = json::array({{{"name", "echo"}, {"arguments", {{"q", "a"}}}}, {{"name", "echo"}, {"arguments", {{"q", "b"}}}}});
  return json::array({{{"match", "^work"}, {"tool_turns", {two, two}}, {"reply", "done: {{tool_results}}"}}});
}

json items(size_t n) {
  auto list = json::array();
  for (size_t i = 0; i < n; ++i) list.push_back(i);
  return list;
}

json loop_scenario(const json& model, size_t n) {
  return {{"models", {{"m", model}}},
          {"agents", {{"worker", {{"model", "m"}, {"prompt", "work {{item}}"}, {"tools", {"echo"}}}},
                      {"echo", {{"type", "tool"}, {"tool", "echo"}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "worker"}}},
          {"input", {{"items", items(n)}}}};
}

// What the loops do, without them: each agent's turns and calls as a pipeline of its
// own (ask, two echoes at once, ask, two echoes at once, ask) in the same fan-out.
json plain_scenario(const json& model, size_t n) {
  json calls{{"type", "fan_out"}, {"over", "input.pair"}, {"agent", "echo"}};
  json ask{{"agent", "ask"}};
  return {{"models", {{"m", model}}},
          {"agents", {{"ask", {{"model", "m"}, {"prompt", "ask {{item}}"}}}, {"echo", {{"type", "tool"}, {"tool", "echo"}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.items"},
                        {"do", {{"type", "pipeline"}, {"steps", {ask, calls, ask, calls, ask}}}}}},
          {"input", {{"items", items(n)}, {"pair", {"a", "b"}}}}};
}

double run_ms(const cohort::Scenario& sc, benchmark::State& state) {
  auto start = std::chrono::steady_clock::now();
  auto r = runtime().run(sc);
  if (!r.ok()) state.SkipWithError(r.error.c_str());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void ToolLoopSim(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  json sim{{"provider", "sim"}, {"latency_ms", 0}, {"rules", tool_rules()}};
  auto loop = runtime().load(loop_scenario(sim, n));
  auto plain = runtime().load(plain_scenario(sim, n));
  double loop_ms = 0, plain_ms = 0;
  for (auto _ : state) {
    loop_ms += run_ms(loop, state);
    plain_ms += run_ms(plain, state);
  }
  auto turns = 3.0 * static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["loop_us_per_turn"] = loop_ms * 1000 / turns;
  state.counters["plain_us_per_turn"] = plain_ms * 1000 / turns;
  state.counters["overhead_us_per_turn"] = (loop_ms - plain_ms) * 1000 / turns;
}
BENCHMARK(ToolLoopSim)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void ToolLoopHttp(benchmark::State& state) {
  const char* port = std::getenv("COHORT_TOOLS_MOCK_PORT");
  if (!port) {
    state.SkipWithError("COHORT_TOOLS_MOCK_PORT not set (run bench/run.sh)");
    return;
  }
  auto n = static_cast<size_t>(state.range(0));
  json mock{{"provider", "openai"}, {"base_url", std::string("http://127.0.0.1:") + port + "/v1"}, {"max_in_flight", 2000}};
  auto loop = runtime().load(loop_scenario(mock, n));
  auto plain = runtime().load({{"models", {{"m", mock}}},
                               {"agents", {{"ask", {{"model", "m"}, {"prompt", "ask {{item}}"}}}}},
                               {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "ask"}}},
                               {"input", {{"items", items(n)}}}});
  run_ms(plain, state);  // warm-up: opens the connections
  double loop_ms = 0, plain_ms = 0;
  for (auto _ : state) {
    loop_ms += run_ms(loop, state);
    plain_ms += run_ms(plain, state);
  }
  auto runs = static_cast<double>(state.iterations());
  state.counters["loop_ms"] = loop_ms / runs;
  state.counters["plain_ms"] = plain_ms / runs;
  state.counters["vs_three_plain"] = loop_ms / (3 * plain_ms);
  state.counters["vs_latency_plus_plain"] = loop_ms / (runs * 150.0 + plain_ms);
}
BENCHMARK(ToolLoopHttp)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace
