// Coordination benchmarks, each next to bare-CAF baselines run on the same actor system
// in the same process, so the figures read as ratios.
//  - BarrierRoundTrip/N: N party actors arrive at one sync point of the barrier actor;
//    one iteration is one generation, timed until every party has heard of its release.
//    Counters us_per_generation, us_per_party.
//  - RawCafBarrier/N: the baseline: the same parties and messages against a bare actor
//    that only collects arrivals and answers them all at N (no roster, no monitors, no
//    timeouts).
//  - BusMessages/N: N agents; each sends 10 messages through the bus, to the 10 agents
//    after it, and takes its own 10 with one receive_n. Counter msgs_per_s.
//  - RawCafDirect/N: the baseline: the same messages sent straight from actor to actor.
//  - RawCafRelay/N: the same through one bare relay actor: what any central mailbox
//    actor costs at least.
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <caf/all.hpp>

#include "bench/bench_runtime.hpp"
#include "coordination/barrier.hpp"
#include "coordination/bus.hpp"
#include "messages/coordination.hpp"
#include "runtime/runtime_access.hpp"

namespace {

using nlohmann::json;
using go_atom = caf::atom_constant<caf::atom("benchgo")>;
using done_atom = caf::atom_constant<caf::atom("benchdone")>;
using namespace std::chrono_literals;

constexpr int messages_per_agent = 10;

caf::actor_system& sys() { return cohort::runtime_access::system(cohort::bench::runtime()); }

// Starts one round: sends `go` to every actor and answers the requester with the
// number of actors that failed, once all of them reported (done_atom, ok).
caf::behavior round_starter(caf::event_based_actor* self, std::shared_ptr<const std::vector<caf::actor>> actors) {
  auto pending = std::make_shared<size_t>(0);
  auto failed = std::make_shared<uint64_t>(0);
  auto rp = std::make_shared<caf::response_promise>();
  return {
    [=](go_atom) {
      *pending = actors->size();
      *failed = 0;
      *rp = self->make_response_promise();
      for (const auto& a : *actors) self->send(a, go_atom::value);
      return *rp;
    },
    [=](done_atom, bool ok) {
      if (!ok) ++*failed;
      if (--*pending > 0) return;
      rp->deliver(*failed);
      *rp = caf::response_promise{};
    },
  };
}

// Runs the benchmark's rounds, one per iteration. Returns the microseconds they took.
double run_rounds(benchmark::State& state, const caf::actor& starter) {
  caf::scoped_actor self{sys()};
  auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    uint64_t failed = 1;
    self->request(starter, 120s, go_atom::value).receive([&](uint64_t n) { failed = n; }, [](caf::error&) {});
    if (failed != 0) {
      state.SkipWithError("a round failed");
      break;
    }
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
}

void stop_all(const std::vector<caf::actor>& actors) {
  for (const auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// ---------------------------------------------------------------- barrier

// On `go`, arrives at sync point "sync" and reports when released.
caf::behavior barrier_party(caf::event_based_actor* self, caf::actor barrier, std::string name) {
  return {[=](go_atom) {
    auto starter = caf::actor_cast<caf::actor>(self->current_sender());
    self->request(barrier, 60s, cohort::barrier_arrive{"sync", name, nullptr, 60000})
      .then([=](const cohort::barrier_release&) { self->send(starter, done_atom::value, true); },
            [=](caf::error&) { self->send(starter, done_atom::value, false); });
  }};
}

// The baseline barrier: promises collected and all delivered at the N-th arrival.
caf::behavior raw_barrier(caf::event_based_actor* self, size_t parties) {
  auto waiting = std::make_shared<std::vector<caf::response_promise>>();
  auto generation = std::make_shared<uint64_t>(1);
  return {[=](const cohort::barrier_arrive& a) -> caf::result<cohort::barrier_release> {
    if (waiting->size() + 1 < parties) {
      waiting->push_back(self->make_response_promise());
      return waiting->back();
    }
    cohort::barrier_release r{a.name, *generation, 0, nullptr};
    for (size_t i = 0; i < waiting->size(); ++i) {
      r.arrival_index = static_cast<uint32_t>(i);
      (*waiting)[i].deliver(r);
    }
    r.arrival_index = static_cast<uint32_t>(waiting->size());
    waiting->clear();
    ++*generation;
    return r;
  }};
}

void barrier_rounds(benchmark::State& state, caf::actor barrier) {
  auto n = static_cast<size_t>(state.range(0));
  auto parties = std::make_shared<std::vector<caf::actor>>();
  for (size_t i = 0; i < n; ++i) parties->push_back(sys().spawn(barrier_party, barrier, "p" + std::to_string(i)));
  auto starter = sys().spawn(round_starter, parties);
  auto us = run_rounds(state, starter);
  auto generations = static_cast<double>(state.iterations());
  state.counters["us_per_generation"] = us / generations;
  state.counters["us_per_party"] = us / generations / static_cast<double>(n);
  stop_all(*parties);
  stop_all({starter, barrier});
}

void BarrierRoundTrip(benchmark::State& state) {
  cohort::barrier_config config;
  config.label = "bench";
  config.default_parties = static_cast<uint32_t>(state.range(0));
  barrier_rounds(state, cohort::spawn_barrier(sys(), config));
}
BENCHMARK(BarrierRoundTrip)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

void RawCafBarrier(benchmark::State& state) {
  barrier_rounds(state, sys().spawn(raw_barrier, static_cast<size_t>(state.range(0))));
}
BENCHMARK(RawCafBarrier)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------- bus

std::shared_ptr<const std::vector<std::string>> agent_names(size_t n) {
  auto names = std::make_shared<std::vector<std::string>>();
  for (size_t i = 0; i < n; ++i) names->push_back("agent-" + std::to_string(i));
  return names;
}

// On `go`, sends its messages through the bus and takes its own with one receive_n;
// reports when all sends were accepted and its messages came.
caf::behavior bus_agent(caf::event_based_actor* self, caf::actor bus,
                        std::shared_ptr<const std::vector<std::string>> names, size_t index) {
  return {[=](go_atom) {
    auto starter = caf::actor_cast<caf::actor>(self->current_sender());
    auto left = std::make_shared<int>(messages_per_agent + 1);
    auto ok = std::make_shared<bool>(true);
    auto step = [=](bool fine) {
      *ok = *ok && fine;
      if (--*left == 0) self->send(starter, done_atom::value, *ok);
    };
    const auto& me = (*names)[index];
    for (int k = 0; k < messages_per_agent; ++k) {
      const auto& to = (*names)[(index + k + 1) % names->size()];
      self->request(bus, 60s, cohort::bus_send{me, to, json{{"seq", k}}})
        .then([=](const cohort::bus_ack&) { step(true); }, [=](caf::error&) { step(false); });
    }
    self->request(bus, 60s, cohort::bus_receive{me, messages_per_agent, 60000})
      .then([=](const std::vector<cohort::bus_message>& got) { step(got.size() == messages_per_agent); },
            [=](caf::error&) { step(false); });
  }};
}

// The baselines' agent: sends its messages to `route` (the peer itself, or a relay
// told the peer's index) and reports once a round's messages have all come.
struct direct_agent_state {
  const char* name = "direct_agent";
  caf::actor starter;
  int rounds = 0;
  int reported = 0;
  int received = 0;
};

caf::behavior direct_agent(caf::stateful_actor<direct_agent_state>* self,
                           std::shared_ptr<const std::vector<caf::actor>> peers, caf::actor relay, size_t index) {
  auto check = [=] {
    auto& st = self->state;
    if (st.reported < st.rounds && st.received >= messages_per_agent * st.rounds) {
      ++st.reported;
      self->send(st.starter, done_atom::value, true);
    }
  };
  return {
    [=](go_atom) {
      self->state.starter = caf::actor_cast<caf::actor>(self->current_sender());
      ++self->state.rounds;
      for (int k = 0; k < messages_per_agent; ++k) {
        auto to = static_cast<uint32_t>((index + k + 1) % peers->size());
        cohort::bus_message m{"agent-" + std::to_string(index), "agent-" + std::to_string(to), 0, json{{"seq", k}}};
        if (relay) self->send(relay, to, std::move(m));
        else self->send((*peers)[to], std::move(m));
      }
      check();
    },
    [=](const cohort::bus_message&) {
      ++self->state.received;
      check();
    },
  };
}

caf::behavior relay(caf::event_based_actor* self, std::shared_ptr<const std::vector<caf::actor>> peers) {
  return {[=](uint32_t to, cohort::bus_message& m) { self->send((*peers)[to], std::move(m)); }};
}

void report_messages(benchmark::State& state, size_t n) {
  state.counters["msgs_per_s"] = benchmark::Counter(static_cast<double>(n * messages_per_agent * state.iterations()),
                                                   benchmark::Counter::kIsRate);
}

void BusMessages(benchmark::State& state) {
  auto n = static_cast<size_t>(state.range(0));
  cohort::bus_config config;
  config.label = "bench";
  auto bus = cohort::spawn_bus(sys(), config);
  auto names = agent_names(n);
  auto agents = std::make_shared<std::vector<caf::actor>>();
  for (size_t i = 0; i < n; ++i) agents->push_back(sys().spawn(bus_agent, bus, names, i));
  auto starter = sys().spawn(round_starter, agents);
  run_rounds(state, starter);
  report_messages(state, n);
  stop_all(*agents);
  stop_all({starter, bus});
}
BENCHMARK(BusMessages)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void raw_messages(benchmark::State& state, bool through_relay) {
  auto n = static_cast<size_t>(state.range(0));
  // Filled before the first `go`, which is what makes the agents read it.
  auto peers = std::make_shared<std::vector<caf::actor>>();
  auto hub = through_relay ? sys().spawn(relay, peers) : caf::actor{};
  for (size_t i = 0; i < n; ++i) peers->push_back(sys().spawn(direct_agent, peers, hub, i));
  auto starter = sys().spawn(round_starter, peers);
  run_rounds(state, starter);
  report_messages(state, n);
  stop_all(*peers);
  stop_all({starter});
  if (hub) stop_all({hub});
}

void RawCafDirect(benchmark::State& state) { raw_messages(state, false); }
BENCHMARK(RawCafDirect)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void RawCafRelay(benchmark::State& state) { raw_messages(state, true); }
BENCHMARK(RawCafRelay)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
