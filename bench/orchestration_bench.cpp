// Orchestration benchmarks.
//  - FanOutNoop/N: a fan-out/fan-in of N no-op tool agents through the whole runtime
//    (scenario -> supervisor -> one actor per branch -> collect). Counter us_per_branch.
//  - RawCafFanOut/N: the baseline in the same run: N bare CAF actors spawned and asked
//    once each from one actor, no cohort at all.
//  - HttpCalls/1000, HttpCallsCold/1000: 1,000 parallel model calls over HTTP to
//    `cohort mock-llm` (started by bench/run.sh; port in COHORT_MOCK_PORT) at 50 ms
//    latency, on warm keep-alive connections and on new ones.

#include <cstdlib>
#include <unordered_map>

#include <benchmark/benchmark.h>
#include <caf/all.hpp>

#include "bench/bench_runtime.hpp"
#include "cohort/runtime.hpp"
#include "messages/json_inspect.hpp"

using nlohmann::json;

namespace {

using cohort::bench::runtime;

cohort::Scenario noop_fan_out(size_t n) {
  json items = json::array();
  for (size_t i = 0; i < n; ++i) items.push_back(i);
  return runtime().load({{"models", json::object()},
                         {"agents", {{"noop", {{"type", "tool"}, {"tool", "echo"}}}}},
                         {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "noop"}}},
                         {"input", {{"items", items}}}});
}

void FanOutNoop(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  auto sc = noop_fan_out(n);
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok() || r.output.size() != n) state.SkipWithError("fan-out failed");
  }
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(FanOutNoop)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

caf::behavior echo_actor() {
  return {[](const json& x) { return x; }};
}

// The baseline shape with bare CAF, one actor per branch: spawn N actors, send each one message, collect the
// replies in order (by sender id), no cohort at all.
void RawCafFanOut(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  cfg.set("scheduler.policy", caf::atom("sharing"));  // as cohort's default
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    caf::scoped_actor self{sys};
    auto collector = sys.spawn([n](caf::event_based_actor* me) -> caf::behavior {
      auto results = std::make_shared<std::vector<json>>(n);
      auto index = std::make_shared<std::unordered_map<caf::actor_id, size_t>>();
      auto pending = std::make_shared<size_t>(n);
      auto rp = std::make_shared<caf::response_promise>();
      return {
        [=](caf::ok_atom) {
          *rp = me->make_response_promise();
          for (size_t i = 0; i < n; ++i) {
            auto worker = me->spawn(echo_actor);
            index->emplace(worker.id(), i);
            me->send(worker, json(i));
          }
          return *rp;
        },
        [=](json& v) {
          (*results)[index->at(me->current_sender()->id())] = std::move(v);
          if (--*pending == 0) rp->deliver(caf::ok_atom::value);
        },
      };
    });
    self->request(collector, std::chrono::seconds(60), caf::ok_atom::value)
      .receive([](caf::ok_atom) {}, [&](caf::error&) { state.SkipWithError("raw CAF failed"); });
  }
  state.counters["us_per_branch"] = benchmark::Counter(static_cast<double>(n) * state.iterations(),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(RawCafFanOut)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

json http_scenario(const char* port, size_t n) {
  json items = json::array();
  for (size_t i = 0; i < n; ++i) items.push_back(i);
  return {{"models", {{"mock", {{"provider", "openai"}, {"base_url", std::string("http://127.0.0.1:") + port + "/v1"},
                                {"max_in_flight", 2000}}}}},
          {"agents", {{"a", {{"model", "mock"}, {"prompt", "call {{item}}"}}}}},
          {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"agent", "a"}}},
          {"input", {{"items", items}}}};
}

void report_peak_rss(benchmark::State& state) {
  // Whole-process peak: run.sh runs the HTTP benchmarks in a process of their own.
  state.counters["peak_rss_mb"] = cohort::bench::peak_rss_mb();
}

// Warm: one long-lived runtime, so its HTTP client keeps the connections of earlier runs.
void HttpCalls(benchmark::State& state) {
  const char* port = std::getenv("COHORT_MOCK_PORT");
  if (!port) {
    state.SkipWithError("COHORT_MOCK_PORT not set (run bench/run.sh)");
    return;
  }
  auto sc = runtime().load(http_scenario(port, static_cast<size_t>(state.range(0))));
  runtime().run(sc);  // warm-up: opens the connections
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(r.error.c_str());
  }
  report_peak_rss(state);
}
BENCHMARK(HttpCalls)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// Cold: a new runtime each time (its start and end not timed), so every call opens a connection.
void HttpCallsCold(benchmark::State& state) {
  const char* port = std::getenv("COHORT_MOCK_PORT");
  if (!port) {
    state.SkipWithError("COHORT_MOCK_PORT not set (run bench/run.sh)");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    auto rt = std::make_unique<cohort::Runtime>(cohort::RuntimeOptions::load());
    auto sc = rt->load(http_scenario(port, static_cast<size_t>(state.range(0))));
    state.ResumeTiming();
    auto r = rt->run(sc);
    if (!r.ok()) state.SkipWithError(r.error.c_str());
    state.PauseTiming();
    rt.reset();
    state.ResumeTiming();
  }
  report_peak_rss(state);
}
BENCHMARK(HttpCallsCold)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace
