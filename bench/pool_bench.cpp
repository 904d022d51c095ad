// Model pool benchmarks against `cohort mock-llm` servers started by bench/run.sh.
//  - PoolRequests: requests per second through the model pool itself, the figure to
//    set next to wrk (bench/run.sh): a driver actor keeps 64 chat requests in flight
//    to the pool of one endpoint (COHORT_POOL_PORTS' first), as wrk keeps 64
//    connections busy; 2,000 requests an iteration. No agents, no workflow.
//  - PoolThroughput/E: requests per second of 2,000 model calls (64 in flight in all)
//    to servers answering at once (COHORT_POOL_PORTS, three ports): E = 1 endpoint
//    through the pool, E = 3 endpoints; PoolThroughputDirect: the lone endpoint
//    without a pool (its HTTP client directly), the cost of the extra hop.
//  - PoolHttpCalls/1000: the HttpCalls shape (1,000 parallel calls at 50 ms latency,
//    COHORT_MOCK_PORT) through a one-endpoint pool, next to HttpCalls without one.
//  - InFlight/10000: 10,000 calls in flight at once through a pool to one mock-llm
//    answering after 200 ms (COHORT_SLOW_MOCK_PORT). Counters: cold_ms (the first run,
//    which opens the 10,000 connections), wall time of the warm runs (ideal: 200 ms),
//    peak_rss_mb; any failed call fails the benchmark.
#include <chrono>
#include <cstdlib>
#include <sstream>

#include <future>

#include <benchmark/benchmark.h>
#include <caf/all.hpp>

#include "bench/bench_runtime.hpp"
#include "cohort/runtime.hpp"
#include "messages/model_call.hpp"
#include "runtime/runtime_access.hpp"
#include "spec/scenario.hpp"

using nlohmann::json;

namespace {

using cohort::bench::peak_rss_mb;
using cohort::bench::runtime;

std::vector<std::string> pool_ports() {
  std::vector<std::string> ports;
  if (const char* env = std::getenv("COHORT_POOL_PORTS")) {
    std::stringstream list(env);
    for (std::string p; std::getline(list, p, ',');) ports.push_back(p);
  }
  return ports;
}

// `pooled`: a breaker is named, which puts even a lone endpoint behind a pool.
json calls_scenario(const std::vector<std::string>& ports, size_t endpoints, bool pooled, size_t n,
                    int max_concurrency, int max_in_flight = 2000) {
  json list = json::array();
  for (size_t i = 0; i < endpoints; ++i)
    list.push_back({{"base_url", "http://127.0.0.1:" + ports[i] + "/v1"}, {"max_in_flight", max_in_flight}});
  json model{{"provider", "openai"}, {"endpoints", list}};
  if (pooled) model["breaker"] = {{"failures", 5}, {"open_ms", 2000}};
  json items = json::array();
  for (size_t i = 0; i < n; ++i) items.push_back(i);
  json step{{"type", "fan_out"}, {"over", "input.items"}, {"agent", "a"}};
  if (max_concurrency > 0) step["max_concurrency"] = max_concurrency;
  return {{"models", {{"m", model}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "call {{item}}"}}}}},
          {"workflow", step},
          {"input", {{"items", items}}}};
}

void run_calls(benchmark::State& state, const json& doc, size_t n) {
  auto sc = runtime().load(doc);
  auto start = std::chrono::steady_clock::now();
  auto warm_up = runtime().run(sc);  // opens the connections
  state.counters["cold_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!warm_up.ok()) return state.SkipWithError(("first run: " + warm_up.error).c_str());
  auto cpu_before = cohort::bench::cpu_us();
  for (auto _ : state) {
    auto r = runtime().run(sc);
    if (!r.ok()) state.SkipWithError(r.error.c_str());
  }
  state.counters["cpu_us_per_call"] =
      (cohort::bench::cpu_us() - cpu_before) / (static_cast<double>(n) * static_cast<double>(state.iterations()));
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

constexpr size_t throughput_calls = 2000;
constexpr int throughput_in_flight = 64;

void PoolThroughput(benchmark::State& state) {
  auto ports = pool_ports();
  auto endpoints = static_cast<size_t>(state.range(0));
  if (ports.size() < endpoints) return state.SkipWithError("COHORT_POOL_PORTS needs 3 ports (run bench/run.sh)");
  run_calls(state, calls_scenario(ports, endpoints, true, throughput_calls, throughput_in_flight), throughput_calls);
}
BENCHMARK(PoolThroughput)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

// Keeps `in_flight` requests going to `pool` until `total` are answered; `finished`
// then gets the number that failed.
struct driver_state {
  caf::actor pool;
  size_t total = 0;
  size_t sent = 0;
  size_t answered = 0;
  size_t failed = 0;
  std::shared_ptr<std::promise<size_t>> finished;
};
using driver_actor = caf::stateful_actor<driver_state>;

void send_request(driver_actor* self);

void on_answer(driver_actor* self, bool ok) {
  auto& st = self->state;
  ++st.answered;
  if (!ok) ++st.failed;
  if (st.sent < st.total) {
    send_request(self);
  } else if (st.answered == st.total) {
    st.finished->set_value(st.failed);
    self->quit();
  }
}

void send_request(driver_actor* self) {
  // Ids of their own, far from the agents' (the pool matches replies by id).
  static std::atomic<uint64_t> next_id{uint64_t{1} << 62};
  static const json messages = json::array({{{"role", "user"}, {"content", "call"}}});
  cohort::model_request req;
  req.id = next_id++;
  req.messages = messages;
  ++self->state.sent;
  // No timeout per request: each would be an event for CAF's clock thread, a cost wrk
  // does not pay either. The pool's HTTP timeouts answer every call, and the benchmark
  // waits for the whole batch with a limit of its own.
  self->request(self->state.pool, caf::infinite, std::move(req))
    .then([self](cohort::model_reply& reply) { on_answer(self, reply.ok); },
          [self](caf::error&) { on_answer(self, false); });
}

caf::behavior pool_driver(driver_actor* self, caf::actor pool, size_t total, size_t in_flight,
                          std::shared_ptr<std::promise<size_t>> finished) {
  self->state = {std::move(pool), total, 0, 0, 0, std::move(finished)};
  for (size_t i = 0; i < std::min(total, in_flight); ++i) send_request(self);
  return {};
}

void PoolRequests(benchmark::State& state) {
  auto ports = pool_ports();
  if (ports.empty()) return state.SkipWithError("COHORT_POOL_PORTS not set (run bench/run.sh)");
  auto sc = cohort::load_scenario(calls_scenario(ports, 1, true, 1, 0), "pool bench", {});
  auto pool = cohort::runtime_access::model_provider(runtime(), sc.models.at("m"));
  auto& sys = cohort::runtime_access::system(runtime());
  auto batch = [&](size_t n) {
    auto finished = std::make_shared<std::promise<size_t>>();
    auto result = finished->get_future();
    sys.spawn(pool_driver, pool, n, static_cast<size_t>(throughput_in_flight), finished);
    if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) return std::string("no answer in 60 s");
    auto failed = result.get();
    return failed ? std::to_string(failed) + " of " + std::to_string(n) + " requests failed" : std::string();
  };
  if (auto error = batch(throughput_in_flight); !error.empty()) return state.SkipWithError(error.c_str());  // connects
  auto cpu_before = cohort::bench::cpu_us();
  for (auto _ : state)
    if (auto error = batch(throughput_calls); !error.empty()) return state.SkipWithError(error.c_str());
  auto n = static_cast<double>(throughput_calls) * static_cast<double>(state.iterations());
  state.counters["cpu_us_per_call"] = (cohort::bench::cpu_us() - cpu_before) / n;
  state.counters["requests_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
}
BENCHMARK(PoolRequests)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

void PoolThroughputDirect(benchmark::State& state) {
  auto ports = pool_ports();
  if (ports.empty()) return state.SkipWithError("COHORT_POOL_PORTS not set (run bench/run.sh)");
  run_calls(state, calls_scenario(ports, 1, false, throughput_calls, throughput_in_flight), throughput_calls);
}
BENCHMARK(PoolThroughputDirect)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

void PoolHttpCalls(benchmark::State& state) {
  const char* port = std::getenv("COHORT_MOCK_PORT");
  if (!port) return state.SkipWithError("COHORT_MOCK_PORT not set (run bench/run.sh)");
  auto n = static_cast<size_t>(state.range(0));
  run_calls(state, calls_scenario({port}, 1, true, n, 0), n);
}
BENCHMARK(PoolHttpCalls)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void InFlight(benchmark::State& state) {
  const char* port = std::getenv("COHORT_SLOW_MOCK_PORT");
  if (!port) return state.SkipWithError("COHORT_SLOW_MOCK_PORT not set (run bench/run.sh)");
  auto n = static_cast<size_t>(state.range(0));
  run_calls(state, calls_scenario({port}, 1, true, n, 0, static_cast<int>(n)), n);
  state.counters["peak_rss_mb"] = peak_rss_mb();
}
BENCHMARK(InFlight)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
