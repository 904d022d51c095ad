// The coordination actors through their C++ handles, and through real actors where
// a party must die, send concurrently or race: barrier generations, timeouts, extra
// parties, broken barriers, actions; bus ordering, early messages, timeouts, isolation,
// backpressure; blackboard CAS races, atomic updates, waiters. Nothing here sleeps to
// synchronise: each test waits for replies, under timeouts that end it if a feature hangs.
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "cohort/coordination.hpp"
#include "cohort/runtime.hpp"
#include "coordination/coordination_handles.hpp"
#include "messages/coordination.hpp"
#include "messages/protocol.hpp"
#include "runtime/runtime_access.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::CoordinationError;
using cohort::testing::test_options;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// The error a call throws; a call that succeeds fails the test.
template <class F>
CoordinationError error_of(F&& f) {
  try {
    f();
  } catch (const CoordinationError& e) {
    return e;
  }
  ADD_FAILURE() << "the call succeeded";
  return CoordinationError("none", "the call succeeded");
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The kind of a coordination error as the actors answer it ("" for other errors).
std::string coord_kind(const caf::error& e) {
  if (e.category() != caf::atom("coord")) return "";
  return cohort::to_string(static_cast<cohort::coordination_errc>(e.code()));
}

class Coordination : public ::testing::Test {
 protected:
  cohort::Runtime rt{test_options()};
  caf::actor_system& sys() { return cohort::runtime_access::system(rt); }
};

// A party as an actor of its own: arrives at `point` when spawned, and reports to
// `observer` that its request is on its way (so a test can then kill it).
caf::behavior arriving_party(caf::event_based_actor* self, caf::actor barrier, std::string point, std::string party,
                             caf::actor observer) {
  self->request(barrier, 30s, cohort::barrier_arrive{point, party, nullptr, 10000})
    .then([](const cohort::barrier_release&) {}, [](caf::error&) {});
  self->send(observer, caf::ok_atom::value);
  return {[](caf::ok_atom) {}};
}

// A party that joins `point` (watched for life) and quits once the barrier confirmed.
caf::behavior joining_party(caf::event_based_actor* self, caf::actor barrier, std::string point, std::string party,
                            caf::actor observer) {
  self->request(barrier, 10s, cohort::barrier_join_atom::value, point, party)
    .then(
        [=](uint64_t) {
          self->send(observer, caf::ok_atom::value);
          self->quit(caf::exit_reason::user_shutdown);
        },
        [=](caf::error& err) { self->quit(err); });
  return {[](caf::ok_atom) {}};
}

void await_ok(caf::scoped_actor& self) {
  bool ok = false;
  self->receive([&](caf::ok_atom) { ok = true; }, caf::after(10s) >> [] {});
  ASSERT_TRUE(ok) << "the party actor did not start";
}

}  // namespace

// ---------------------------------------------------------------- barrier

TEST_F(Coordination, BarrierReleasesTogetherGenerationAfterGeneration) {
  constexpr int parties = 4, generations = 5;
  cohort::Barrier barrier(rt, parties);
  std::atomic<int> arrived[generations + 1] = {};
  std::mutex mutex;
  std::map<uint64_t, std::set<size_t>> indices;  // generation -> arrival indices seen
  std::vector<std::thread> threads;
  std::atomic<int> early{0};
  for (int p = 0; p < parties; ++p)
    threads.emplace_back([&, p] {
      for (int g = 1; g <= generations; ++g) {
        arrived[g]++;
        auto r = barrier.arrive("step", "p" + std::to_string(p), 5s);
        if (arrived[g] != parties) early++;  // released before everybody came
        std::lock_guard<std::mutex> lock(mutex);
        indices[r.generation].insert(r.arrival_index);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(early, 0);
  ASSERT_EQ(indices.size(), static_cast<size_t>(generations));
  for (uint64_t g = 1; g <= generations; ++g) EXPECT_EQ(indices[g], (std::set<size_t>{0, 1, 2, 3})) << "generation " << g;
}

TEST_F(Coordination, BarrierTimeoutBreaksTheGenerationForTheOthersUntilReset) {
  cohort::Barrier barrier(rt, 3, "run-7");
  auto patient = std::async(std::launch::async, [&] {
    auto started = clock_type::now();
    auto e = error_of([&] { barrier.arrive("sync", "a", 3s); });
    return std::make_pair(e, clock_type::now() - started);
  });
  auto started = clock_type::now();
  auto own = error_of([&] { barrier.arrive("sync", "b", 150ms); });
  auto waited = clock_type::now() - started;
  EXPECT_EQ(own.kind(), "timeout");
  EXPECT_TRUE(contains(own.what(), "party 'b' timed out after 150 ms")) << own.what();
  EXPECT_TRUE(contains(own.what(), "barrier 'sync' of run-7")) << own.what();
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 2s);

  // 'a' either waited and was released with the break, or arrived after it and was
  // refused at once: both long before its own 3 s.
  auto [other, other_waited] = patient.get();
  EXPECT_EQ(other.kind(), "broken");
  EXPECT_TRUE(contains(other.what(), "party 'b' timed out")) << other.what();
  EXPECT_LT(other_waited, 2s);

  // A late party is refused with the cause, until the sync point is reset.
  auto late = error_of([&] { barrier.arrive("sync", "c", 3s); });
  EXPECT_EQ(late.kind(), "broken");
  EXPECT_TRUE(contains(late.what(), "reset it")) << late.what();
  EXPECT_EQ(barrier.reset("sync"), 2u);
  std::vector<std::future<cohort::BarrierRelease>> all;
  for (auto party : {"a", "b", "c"})
    all.push_back(std::async(std::launch::async, [&, party] { return barrier.arrive("sync", party, 5s); }));
  for (auto& f : all) EXPECT_EQ(f.get().generation, 2u);
}

TEST_F(Coordination, BarrierRefusesARepeatedAndAnExtraParty) {
  cohort::Barrier barrier(rt, 2, "run-3");
  auto actor = cohort::coordination_access::actor(barrier);
  caf::scoped_actor self{sys()};
  // Both from one actor, so the barrier sees them in this order.
  auto first = self->request(actor, 10s, cohort::barrier_arrive{"sync", "a", nullptr, 5000});
  auto again = self->request(actor, 10s, cohort::barrier_arrive{"sync", "a", nullptr, 5000});
  std::string repeated;
  again.receive([](const cohort::barrier_release&) { ADD_FAILURE() << "a second arrival was accepted"; },
                [&](caf::error& e) {
                  EXPECT_EQ(coord_kind(e), "extra_party");
                  repeated = cohort::coordination_error_text(e);
                });
  EXPECT_TRUE(contains(repeated, "party 'a' already arrived in generation 1")) << repeated;
  EXPECT_TRUE(contains(repeated, "barrier 'sync' of run-3")) << repeated;
  EXPECT_EQ(barrier.arrive("sync", "b", 5s).arrival_index, 1u);
  first.receive([](const cohort::barrier_release& r) { EXPECT_EQ(r.arrival_index, 0u); },
                [](caf::error& e) { ADD_FAILURE() << cohort::coordination_error_text(e); });

  // 'a' and 'b' are its two parties now: 'c' is one too many.
  auto extra = error_of([&] { barrier.arrive("sync", "c", 5s); });
  EXPECT_EQ(extra.kind(), "extra_party");
  EXPECT_TRUE(contains(extra.what(), "has all its 2 parties")) << extra.what();
  EXPECT_TRUE(contains(extra.what(), "'c' is an extra party")) << extra.what();
}

TEST_F(Coordination, BarrierBreaksForEveryoneWhenAWaitingPartyIsKilled) {
  cohort::Barrier barrier(rt, 3);
  caf::scoped_actor self{sys()};
  auto victim = sys().spawn(arriving_party, cohort::coordination_access::actor(barrier), std::string("sync"),
                            std::string("x"), caf::actor_cast<caf::actor>(self));
  await_ok(self);
  auto started = clock_type::now();
  auto waiting = std::async(std::launch::async, [&] { return error_of([&] { barrier.arrive("sync", "a", 5s); }); });
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  auto e = waiting.get();
  EXPECT_EQ(e.kind(), "broken");
  EXPECT_TRUE(contains(e.what(), "party 'x' ended while waiting")) << e.what();
  EXPECT_LT(clock_type::now() - started, 2s);
}

TEST_F(Coordination, BarrierBreaksWhenAJoinedPartyEndsBeforeItArrives) {
  cohort::Barrier barrier(rt, 2);
  caf::scoped_actor self{sys()};
  sys().spawn(joining_party, cohort::coordination_access::actor(barrier), std::string("sync"), std::string("x"),
              caf::actor_cast<caf::actor>(self));
  await_ok(self);  // joined, and quitting
  auto started = clock_type::now();
  auto e = error_of([&] { barrier.arrive("sync", "a", 5s); });
  EXPECT_EQ(e.kind(), "broken");
  EXPECT_TRUE(contains(e.what(), "party 'x' ended")) << e.what();
  EXPECT_LT(clock_type::now() - started, 2s);
}

TEST_F(Coordination, BarrierNamesTheMissingPartyWhenItsArrivalNeverComes) {
  cohort::Barrier barrier(rt, 3);
  std::vector<std::future<cohort::BarrierRelease>> first;
  for (auto party : {"a", "b", "c"})
    first.push_back(std::async(std::launch::async, [&, party] { return barrier.arrive("sync", party, 5s); }));
  for (auto& f : first) EXPECT_EQ(f.get().generation, 1u);
  // Generation 2: 'c' never comes.
  auto b = std::async(std::launch::async, [&] { return error_of([&] { barrier.arrive("sync", "b", 5s); }); });
  auto a = error_of([&] { barrier.arrive("sync", "a", 200ms); });
  EXPECT_EQ(a.kind(), "timeout");
  EXPECT_TRUE(contains(a.what(), "missing") && contains(a.what(), "'c'")) << a.what();
  auto other = b.get();
  EXPECT_EQ(other.kind(), "broken");
  EXPECT_TRUE(contains(other.what(), "party 'a' timed out")) << other.what();
}

TEST_F(Coordination, BarrierBreaksWhenAPartyLeaves) {
  cohort::Barrier barrier(rt, 3);
  auto waiting = std::async(std::launch::async, [&] { return error_of([&] { barrier.arrive("sync", "a", 5s); }); });
  barrier.leave("sync", "b", "its task was cancelled");
  auto e = waiting.get();
  EXPECT_EQ(e.kind(), "broken");
  EXPECT_TRUE(contains(e.what(), "party 'b' left (its task was cancelled)")) << e.what();
}

// What the node does when a party's HTTP client hangs up: its arrival is undone, only
// by the actor that made it, and the party may arrive again in the same generation.
TEST_F(Coordination, BarrierWithdrawnArrivalNoLongerCountsAndThePartyMayArriveAgain) {
  cohort::Barrier barrier(rt, 2);
  auto barrier_actor = cohort::coordination_access::actor(barrier);
  caf::scoped_actor self{sys()};
  caf::scoped_actor stranger{sys()};
  // Another actor's withdrawal does not undo a's arrival: b's arrival releases both.
  auto kept = self->request(barrier_actor, 10s, cohort::barrier_arrive{"sync", "a", nullptr, 10000});
  std::this_thread::sleep_for(100ms);  // the arrival is in
  stranger->send(barrier_actor, cohort::barrier_withdraw{"sync", "a"});
  EXPECT_EQ(barrier.arrive("sync", "b", 5s).generation, 1u);
  kept.receive([](cohort::barrier_release& r) { EXPECT_EQ(r.generation, 1u); },
               [](caf::error& e) { ADD_FAILURE() << cohort::coordination_error_text(e); });
  // Its own withdrawal does: the wait is answered, and a arrives again.
  auto first = self->request(barrier_actor, 10s, cohort::barrier_arrive{"sync", "a", nullptr, 10000});
  self->send(barrier_actor, cohort::barrier_withdraw{"sync", "a"});
  first.receive([](cohort::barrier_release&) { ADD_FAILURE() << "released alone"; },
                [](caf::error& e) {
                  EXPECT_EQ(coord_kind(e), "stopped");
                  EXPECT_TRUE(contains(cohort::coordination_error_text(e), "party 'a' withdrew its arrival"));
                });
  auto a = std::async(std::launch::async, [&] { return barrier.arrive("sync", "a", 5s); });
  auto b = barrier.arrive("sync", "b", 5s);
  EXPECT_EQ(a.get().generation, 2u);
  EXPECT_EQ(b.generation, 2u);
}

TEST_F(Coordination, BarrierActionRunsOncePerGenerationAndEveryPartyGetsItsResult) {
  constexpr int parties = 5, generations = 3;
  cohort::Barrier barrier(rt);
  std::atomic<int> calls{0};
  barrier.define("sum", parties, [&](const std::vector<json>& arrivals) {
    ++calls;
    int total = 0;
    std::set<std::string> names;
    for (const auto& a : arrivals) {
      total += a["value"].get<int>();
      names.insert(a["party"].get<std::string>());
    }
    return json{{"total", total}, {"parties", names.size()}};
  });
  std::vector<std::future<std::vector<json>>> results;
  for (int p = 0; p < parties; ++p)
    results.push_back(std::async(std::launch::async, [&, p] {
      std::vector<json> got;
      for (int g = 1; g <= generations; ++g)
        got.push_back(barrier.arrive("sum", "p" + std::to_string(p), 5s, p * 10 + g).result);
      return got;
    }));
  for (auto& f : results) {
    auto got = f.get();
    ASSERT_EQ(got.size(), static_cast<size_t>(generations));
    // (0 + 10 + 20 + 30 + 40) + 5 g
    for (int g = 1; g <= generations; ++g) EXPECT_EQ(got[g - 1], (json{{"total", 100 + 5 * g}, {"parties", 5}}));
  }
  EXPECT_EQ(calls, generations);

  // An action that throws breaks the generation for every party.
  barrier.define("bad", 2, [](const std::vector<json>&) -> json { throw std::runtime_error("no quorum"); });
  auto a = std::async(std::launch::async, [&] { return error_of([&] { barrier.arrive("bad", "a", 5s); }); });
  auto b = error_of([&] { barrier.arrive("bad", "b", 5s); });
  for (const auto& e : {a.get(), b}) {
    EXPECT_EQ(e.kind(), "broken");
    EXPECT_TRUE(contains(e.what(), "its action failed (no quorum)")) << e.what();
  }
}

TEST_F(Coordination, BarrierRejectsWaitsWithoutTimeoutAndUndefinedSyncPoints) {
  cohort::Barrier barrier(rt);
  EXPECT_EQ(error_of([&] { barrier.arrive("nowhere", "a", 1s); }).kind(), "invalid_argument");
  barrier.define("here", 2);
  EXPECT_EQ(error_of([&] { barrier.arrive("here", "a", 0ms); }).kind(), "invalid_argument");
}

// ---------------------------------------------------------------- bus

namespace {

// Sends `count` messages {sender, seq} from `name`, alternating between two receivers,
// all requests in flight at once; reports to `observer` when all were accepted.
caf::behavior sender_agent(caf::event_based_actor* self, caf::actor bus, std::string name, int count,
                           caf::actor observer) {
  auto acked = std::make_shared<int>(0);
  for (int seq = 0; seq < count; ++seq)
    self->request(bus, 30s, cohort::bus_send{name, seq % 2 ? "r1" : "r0", json{{"sender", name}, {"seq", seq}}})
      .then(
          [=](const cohort::bus_ack&) {
            if (++*acked == count) {
              self->send(observer, caf::ok_atom::value);
              self->quit();
            }
          },
          [=](caf::error& e) { self->quit(e); });
  return {[](caf::ok_atom) {}};
}

}  // namespace

TEST_F(Coordination, BusKeepsEachSendersOrderUnderConcurrentSenders) {
  constexpr int senders = 8, per_sender = 1000;
  cohort::Bus bus(rt);
  auto receive_all = [&](const std::string& name) {
    std::map<std::string, std::vector<int>> seen;
    for (int got = 0; got < senders * per_sender / 2; got += 100)
      for (auto& m : bus.receive_n(name, 100, 10s)) seen[m.from].push_back(m.payload["seq"].get<int>());
    return seen;
  };
  auto r0 = std::async(std::launch::async, receive_all, "r0");
  auto r1 = std::async(std::launch::async, receive_all, "r1");
  caf::scoped_actor self{sys()};
  for (int s = 0; s < senders; ++s)
    sys().spawn(sender_agent, cohort::coordination_access::actor(bus), "s" + std::to_string(s), per_sender,
                caf::actor_cast<caf::actor>(self));
  int done = 0;
  self->receive_for(done, senders)([](caf::ok_atom) {}, caf::after(20s) >> [] { ADD_FAILURE() << "senders stalled"; });
  for (auto [receiver, first] : {std::make_pair(&r0, 0), std::make_pair(&r1, 1)}) {
    auto seen = receiver->get();
    ASSERT_EQ(seen.size(), static_cast<size_t>(senders));
    for (auto& [sender, seqs] : seen) {
      std::vector<int> expected;
      for (int seq = first; seq < per_sender; seq += 2) expected.push_back(seq);
      EXPECT_EQ(seqs, expected) << sender << " at r" << first;
    }
  }
}

TEST_F(Coordination, BusKeepsMessagesForAnAgentThatHasNotStarted) {
  cohort::Bus bus(rt);
  bus.send("planner", "writer", "outline");
  bus.send("critic", "writer", "be brief");
  bus.send("planner", "writer", "deadline friday");
  // The writer starts now, as an actor of its own, and finds its mail in order.
  caf::scoped_actor self{sys()};
  auto writer = self->spawn([bus_actor = cohort::coordination_access::actor(bus)](caf::event_based_actor* me) {
    return caf::behavior{[=](caf::ok_atom) {
      return me->delegate(bus_actor, cohort::bus_receive{"writer", 3, 5000});
    }};
  });
  std::vector<cohort::bus_message> got;
  self->request(writer, 10s, caf::ok_atom::value)
    .receive([&](std::vector<cohort::bus_message>& ms) { got = std::move(ms); },
             [](caf::error& e) { ADD_FAILURE() << cohort::coordination_error_text(e); });
  self->send_exit(writer, caf::exit_reason::user_shutdown);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, "outline");
  EXPECT_EQ(got[1].payload, "be brief");
  EXPECT_EQ(got[1].from, "critic");
  EXPECT_EQ(got[2].payload, "deadline friday");
  EXPECT_LT(got[0].id, got[1].id);
  EXPECT_LT(got[1].id, got[2].id);
}

// Names can come from outside (the node's agent API): a bus holds a bounded number of
// mailboxes, and a new name beyond them is refused while known names go on working.
TEST_F(Coordination, BusRefusesNewNamesBeyondItsMailboxLimit) {
  cohort::BusOptions options;
  options.label = "run-7";
  options.max_mailboxes = 3;
  cohort::Bus bus(rt, options);
  for (const char* name : {"a", "b", "c"}) bus.send("x", name, 1);
  auto e = error_of([&] { bus.send("x", "d", 1); });
  EXPECT_EQ(e.kind(), "mailbox_full");
  EXPECT_TRUE(contains(e.what(), "'d' would be mailbox 4")) << e.what();
  EXPECT_EQ(error_of([&] { bus.receive("e", 10ms); }).kind(), "mailbox_full");
  EXPECT_EQ(error_of([&] { bus.join("f"); }).kind(), "mailbox_full");
  bus.send("x", "a", 2);
  EXPECT_EQ(bus.receive("a", 1s).payload, 1);
}

TEST_F(Coordination, BusReceiveTimesOutAndReceiveNTakesAllOrNothing) {
  cohort::Bus bus(rt, {10000, {}, "run-5"});
  auto started = clock_type::now();
  auto e = error_of([&] { bus.receive("idle", 100ms); });
  EXPECT_EQ(e.kind(), "timeout");
  EXPECT_TRUE(contains(e.what(), "bus of run-5: no message for 'idle' within 100 ms")) << e.what();
  EXPECT_GE(clock_type::now() - started, 90ms);
  EXPECT_LT(clock_type::now() - started, 2s);

  bus.send("a", "x", 1);
  bus.send("a", "x", 2);
  auto partial = error_of([&] { bus.receive_n("x", 3, 100ms); });
  EXPECT_EQ(partial.kind(), "timeout");
  EXPECT_TRUE(contains(partial.what(), "got 2 of 3")) << partial.what();
  // Nothing was taken: a receive_n that waits gets those two and the one sent later.
  auto later = std::async(std::launch::async, [&] { return bus.receive_n("x", 3, 5s); });
  bus.send("b", "x", 3);
  auto got = later.get();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, 1);
  EXPECT_EQ(got[1].payload, 2);
  EXPECT_EQ(got[2].payload, 3);
  EXPECT_EQ(got[2].from, "b");
}

// What the node's long poll does when its HTTP client hangs up: the waiting receive is
// withdrawn (a later message stays in the mailbox), and messages the poll was handed but
// could not write go back to the front, in order.
TEST_F(Coordination, BusWithdrawnReceiveTakesNothingAndUnsentMessagesGoBackInFront) {
  cohort::Bus bus(rt);
  auto bus_actor = cohort::coordination_access::actor(bus);
  caf::scoped_actor self{sys()};
  auto waiting = self->request(bus_actor, 10s, cohort::bus_receive{"poller", 5, 10000, true, 42});
  self->send(bus_actor, cohort::bus_withdraw{"poller", 42, {}});
  waiting.receive([](std::vector<cohort::bus_message>& got) { EXPECT_TRUE(got.empty()); },
                  [](caf::error& e) { ADD_FAILURE() << cohort::coordination_error_text(e); });
  bus.send("a", "poller", "kept");  // no withdrawn receive takes it
  std::vector<cohort::bus_message> unsent{{"a", "poller", 1, "first"}, {"b", "poller", 2, "second"}};
  self->send(bus_actor, cohort::bus_withdraw{"poller", 0, unsent});
  auto got = bus.receive_n("poller", 3, 5s);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, "first");
  EXPECT_EQ(got[1].payload, "second");
  EXPECT_EQ(got[2].payload, "kept");
  EXPECT_EQ(got[1].from, "b");
}

TEST_F(Coordination, BusBroadcastReachesJoinedNamesButNotTheSender) {
  cohort::Bus bus(rt, {10000, {"a", "b", "c"}, "bus"});
  bus.join("d");
  bus.send("a", "e", "direct");  // 'e' has a mailbox but never joined
  EXPECT_EQ(bus.broadcast("a", "hello all"), 3u);
  for (auto name : {"b", "c", "d"}) {
    auto m = bus.receive(name, 1s);
    EXPECT_EQ(m.payload, "hello all");
    EXPECT_EQ(m.from, "a");
    EXPECT_EQ(m.to, name);
  }
  EXPECT_EQ(error_of([&] { bus.receive("a", 50ms); }).kind(), "timeout");
  EXPECT_EQ(bus.receive("e", 1s).payload, "direct");
  EXPECT_EQ(error_of([&] { bus.receive("e", 50ms); }).kind(), "timeout");
}

TEST_F(Coordination, BusesOfTwoRunsAreIsolated) {
  cohort::Bus run1(rt, {10000, {"x", "y"}, "run-1"});
  cohort::Bus run2(rt, {10000, {"x", "y"}, "run-2"});
  run1.send("y", "x", "for run 1");
  run2.broadcast("y", "for run 2");
  EXPECT_EQ(run1.receive("x", 1s).payload, "for run 1");
  EXPECT_EQ(run2.receive("x", 1s).payload, "for run 2");
  EXPECT_EQ(error_of([&] { run1.receive("x", 50ms); }).kind(), "timeout");
  EXPECT_EQ(error_of([&] { run2.receive("x", 50ms); }).kind(), "timeout");
}

TEST_F(Coordination, BusFullMailboxIsAnErrorUntilItIsDrained) {
  cohort::Bus bus(rt, {3, {"x", "y"}, "run-9"});
  for (int i = 0; i < 3; ++i) bus.send("y", "x", i);
  auto full = error_of([&] { bus.send("y", "x", 3); });
  EXPECT_EQ(full.kind(), "mailbox_full");
  EXPECT_TRUE(contains(full.what(), "the mailbox of 'x' is full (3 messages")) << full.what();
  // A broadcast is all or nothing: 'z' does not get it either.
  bus.join("z");
  EXPECT_EQ(error_of([&] { bus.broadcast("y", "all"); }).kind(), "mailbox_full");
  EXPECT_EQ(error_of([&] { bus.receive("z", 50ms); }).kind(), "timeout");
  EXPECT_EQ(bus.receive("x", 1s).payload, 0);
  bus.send("y", "x", 3);
  auto rest = bus.receive_n("x", 3, 1s);
  EXPECT_EQ(rest.back().payload, 3);
}

// ---------------------------------------------------------------- blackboard

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;

// Adds 1 to "counter" `count` times with a compare-and-set loop: read, propose +1,
// and on a lost race start again from the value that won.
caf::behavior cas_incrementer(caf::event_based_actor* self, caf::actor board, int count, caf::actor observer) {
  auto left = std::make_shared<int>(count);
  auto lost = std::make_shared<int>(0);
  self->send(self, retry_atom::value, json());
  return {[=](retry_atom, const json& expected) {
    json desired = expected.is_null() ? 1 : expected.get<int>() + 1;
    self->request(board, 10s, cohort::board_cas{"counter", expected, desired})
      .then(
          [=](const cohort::board_cas_result& r) {
            if (!r.swapped) ++*lost;
            if (r.swapped && --*left == 0) {
              self->send(observer, caf::ok_atom::value, *lost);
              self->quit();
              return;
            }
            self->send(self, retry_atom::value, r.current.value);
          },
          [=](caf::error& e) { self->quit(e); });
  }};
}

}  // namespace

TEST_F(Coordination, BlackboardCompareAndSetLoopsOfManyActorsCountExactly) {
  constexpr int actors = 8, each = 200;
  cohort::Blackboard board(rt);
  caf::scoped_actor self{sys()};
  for (int i = 0; i < actors; ++i)
    sys().spawn(cas_incrementer, cohort::coordination_access::actor(board), each, caf::actor_cast<caf::actor>(self));
  int done = 0;
  self->receive_for(done, actors)([](caf::ok_atom, int) {}, caf::after(20s) >> [] { ADD_FAILURE() << "stalled"; });
  auto e = board.get("counter");
  EXPECT_EQ(e.value, actors * each);
  EXPECT_EQ(e.version, static_cast<uint64_t>(actors * each));  // one write per successful swap

  auto refused = board.compare_and_set("counter", 0, 5);
  EXPECT_FALSE(refused.swapped);
  EXPECT_EQ(refused.current.value, actors * each);
  EXPECT_TRUE(board.compare_and_set("fresh", nullptr, "first").swapped);  // absent holds null
  EXPECT_FALSE(board.compare_and_set("fresh", nullptr, "second").swapped);
}

TEST_F(Coordination, BlackboardUpdatesAreAtomic) {
  cohort::Blackboard board(rt);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        board.update("n", [](const json& v, bool exists) { return exists ? v.get<int>() + 1 : 1; });
        board.increment("m", 2);
        board.append("log", i);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(board.get("n").value, 400);
  EXPECT_EQ(board.get("m").value, 800);
  EXPECT_EQ(board.get("log").value.size(), 400u);

  board.put("doc", {{"title", "draft"}, {"tags", {"a"}}});
  EXPECT_EQ(board.merge_patch("doc", {{"title", "final"}, {"tags", nullptr}}).value, (json{{"title", "final"}}));
  auto bad = error_of([&] {
    board.update("doc", [](const json&, bool) -> json { throw std::runtime_error("refused"); });
  });
  EXPECT_EQ(bad.kind(), "invalid_argument");
  EXPECT_TRUE(contains(bad.what(), "refused")) << bad.what();
  EXPECT_EQ(board.get("doc").value, (json{{"title", "final"}}));  // unchanged
  EXPECT_EQ(error_of([&] { board.increment("doc"); }).kind(), "invalid_argument");
  EXPECT_FALSE(board.erase("doc").exists);
  EXPECT_EQ(board.snapshot(), (json{{"n", 400}, {"m", 800}, {"log", board.get("log").value}}));
}

TEST_F(Coordination, BlackboardWaitersWakeWhenTheirConditionBecomesTrue) {
  cohort::Blackboard board(rt);
  auto three = std::async(std::launch::async, [&] { return board.wait_until({"done", "gte", 3}, 5s); });
  auto ready = std::async(std::launch::async, [&] { return board.wait_until({"phase", "equals", "ready"}, 5s); });
  auto even = std::async(std::launch::async, [&] {
    return board.wait_until("done", [](const json& v, bool exists) { return exists && v.get<int>() % 2 == 0; }, 5s);
  });
  auto present = std::async(std::launch::async, [&] { return board.wait_until({"phase", "exists", nullptr}, 5s); });
  for (int i = 0; i < 4; ++i) board.increment("done");
  board.put("phase", "warming up");
  board.put("phase", "ready");
  // A waiter answers with the entry that made its condition hold: the waiters on
  // "done" can only have woken at 2 (even) and at 3 or 4 (gte 3), never before.
  auto e = even.get().value.get<int>();
  EXPECT_TRUE(e == 2 || e == 4) << e;
  EXPECT_GE(three.get().value.get<int>(), 3);
  EXPECT_EQ(ready.get().value, "ready");
  auto p = present.get();
  EXPECT_TRUE(p.exists);
  EXPECT_EQ(board.wait_until({"done", "equals", 4}, 1s).version, 4u);  // holds already: at once
}

TEST_F(Coordination, BlackboardWaitTimesOutNamingItsCondition) {
  cohort::Blackboard board(rt, "run-2");
  board.put("votes", 1);
  auto started = clock_type::now();
  auto e = error_of([&] { board.wait_until({"votes", "gte", 3}, 100ms); });
  EXPECT_EQ(e.kind(), "timeout");
  EXPECT_TRUE(contains(e.what(), "blackboard of run-2: 'votes' did not meet gte 3 within 100 ms (it holds 1)"))
      << e.what();
  EXPECT_GE(clock_type::now() - started, 90ms);
  EXPECT_LT(clock_type::now() - started, 2s);
  EXPECT_EQ(error_of([&] { board.wait_until({"votes", "about", 3}, 1s); }).kind(), "invalid_argument");
}

// ---------------------------------------------------------------- lifecycle and wire format

TEST_F(Coordination, StoppingAnswersWaitersAndLeavesNoActorBehind) {
  auto baseline = rt.live_actors();
  {
    cohort::Bus bus(rt);
    cohort::Barrier barrier(rt, 2);
    cohort::Blackboard board(rt);
    auto bus_actor = cohort::coordination_access::actor(bus);
    auto barrier_actor = cohort::coordination_access::actor(barrier);
    auto board_actor = cohort::coordination_access::actor(board);
    caf::scoped_actor self{sys()};
    // Each actor gets the wait first and the exit after it, from the same sender: the
    // wait is pending when the actor stops.
    auto receiving = self->request(bus_actor, 10s, cohort::bus_receive{"x", 1, 10000});
    auto arriving = self->request(barrier_actor, 10s, cohort::barrier_arrive{"s", "a", nullptr, 10000});
    auto waiting = self->request(board_actor, 10s, cohort::board_wait{{"k", "exists", nullptr}, 10000});
    for (auto& a : {bus_actor, barrier_actor, board_actor}) self->send_exit(a, caf::exit_reason::user_shutdown);
    auto started = clock_type::now();
    auto expect_stopped = [](caf::error& e) { EXPECT_EQ(coord_kind(e), "stopped") << caf::to_string(e); };
    receiving.receive([](std::vector<cohort::bus_message>&) { ADD_FAILURE() << "got a message"; }, expect_stopped);
    arriving.receive([](cohort::barrier_release&) { ADD_FAILURE() << "released"; }, expect_stopped);
    waiting.receive([](cohort::board_entry&) { ADD_FAILURE() << "condition held"; }, expect_stopped);
    EXPECT_LT(clock_type::now() - started, 3s);
    EXPECT_EQ(error_of([&] { bus.send("a", "b", 1); }).kind(), "stopped");  // a stopped actor is gone
    cohort::Bus other(rt);
    other.send("a", "b", 1);  // handles going out of scope stop their actors too
  }
  for (int i = 0; i < 200 && rt.live_actors() != baseline; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(rt.live_actors(), baseline);
}

TEST(CoordinationProtocol, MessagesSurviveSerialization) {
  caf::actor_system_config cfg;
  cohort::register_messages(cfg);
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  auto round_trip = [&](caf::message msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    EXPECT_FALSE(sink(msg));
    caf::message back;
    caf::binary_deserializer source{sys, buf};
    EXPECT_FALSE(source(back));
    return back;
  };
  auto msgs = round_trip(caf::make_message(std::vector<cohort::bus_message>{{"a", "b", 7, {{"k", 1}}}}));
  ASSERT_TRUE(msgs.match_elements<std::vector<cohort::bus_message>>());
  EXPECT_EQ(msgs.get_as<std::vector<cohort::bus_message>>(0).at(0).payload, (json{{"k", 1}}));
  auto rel = round_trip(caf::make_message(cohort::barrier_release{"s", 3, 2, {1, 2}}));
  ASSERT_TRUE(rel.match_elements<cohort::barrier_release>());
  EXPECT_EQ(rel.get_as<cohort::barrier_release>(0).generation, 3u);
  EXPECT_EQ(rel.get_as<cohort::barrier_release>(0).result, (json{1, 2}));
  auto wait = round_trip(caf::make_message(cohort::board_wait{{"k", "gte", 3}, 500}));
  ASSERT_TRUE(wait.match_elements<cohort::board_wait>());
  EXPECT_EQ(wait.get_as<cohort::board_wait>(0).condition.op, "gte");
  EXPECT_EQ(wait.get_as<cohort::board_wait>(0).timeout_ms, 500);
  auto err = round_trip(caf::make_message(cohort::coordination_error(cohort::coordination_errc::broken, "why")));
  ASSERT_TRUE(err.match_elements<caf::error>());
  EXPECT_EQ(coord_kind(err.get_as<caf::error>(0)), "broken");
  EXPECT_EQ(cohort::coordination_error_text(err.get_as<caf::error>(0)), "why");
  EXPECT_EQ(sys.render(cohort::coordination_error(cohort::coordination_errc::timeout, "late")), "coord.timeout: late");
}
