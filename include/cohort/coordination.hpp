#pragma once
// Coordination between agents, for C++ code that embeds cohort and for tool agents:
//
//   Bus         agents address each other by name: send, broadcast, receive
//   Barrier     named sync points for N parties, reusable, every wait with a timeout
//   Blackboard  shared key-value state: atomic updates, compare-and-set, and waits
//               until a condition holds
//
// Each object is a handle to one actor of the runtime; copies share it, calls from any
// thread are safe, and the actor stops when the last handle created by the constructor
// goes (or on stop()). Every call blocks until the actor answers; every wait takes a
// timeout. Failures throw cohort::CoordinationError. Destroy the handles before their
// Runtime; one that goes first stops their actors, and later calls throw `stopped`.
//
//   cohort::Runtime rt;
//   cohort::Barrier barrier(rt, 3);   // sync points of 3 parties unless defined otherwise
//   // in each of three threads:
//   auto r = barrier.arrive("stage-1", "worker-" + std::to_string(i), std::chrono::seconds(5));
//
//   cohort::Bus bus(rt);
//   bus.send("planner", "writer", {{"outline", "..."}});  // waits for "writer" if need be
//   auto m = bus.receive("writer", std::chrono::seconds(1));
//
//   cohort::Blackboard board(rt);
//   board.update("done", [](const nlohmann::json& v, bool exists) { return exists ? v.get<int>() + 1 : 1; });
//   board.wait_until({"done", "gte", 3}, std::chrono::seconds(5));
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort {

class Runtime;
namespace detail {
struct coordination_actor;  // the actor behind a handle (coordination/coordination_handles.hpp)
}

// What a coordination call failed with. kind() is one of:
//   timeout           a wait ran out of time (or the actor did not answer in time)
//   broken            a barrier generation broke: another party timed out, left or died
//   extra_party       a barrier already has all its parties, or this one already arrived
//   mailbox_full      the recipient's bus mailbox is full
//   stopped           the actor was stopped (or its Runtime went away)
//   invalid_argument  a malformed call (empty name, timeout <= 0, unknown operation, ...)
class CoordinationError : public std::runtime_error {
 public:
  CoordinationError(std::string kind, const std::string& message);
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
};

// ---------------------------------------------------------------- Bus

struct BusOptions {
  size_t mailbox_capacity = 10000;  // messages waiting per name (at least 1)
  std::vector<std::string> names;   // joined from the start: what broadcast reaches
  std::string label = "bus";        // named in error messages
  size_t max_mailboxes = 100000;    // names with a mailbox; a new name beyond it gets mailbox_full
};

struct BusMessage {
  std::string from;
  std::string to;
  uint64_t id = 0;  // unique per bus, increasing in the order the bus accepted messages
  nlohmann::json payload;
};

// Mailboxes by name. A message for a name nobody receives yet waits for it; one
// sender's messages arrive in the order sent; different buses never mix.
class Bus {
 public:
  explicit Bus(Runtime& runtime, BusOptions options = {});

  // Adds `name` to the names a broadcast reaches.
  void join(const std::string& name);
  // Returns the message id. Throws mailbox_full if `to` has mailbox_capacity waiting.
  uint64_t send(const std::string& from, const std::string& to, nlohmann::json payload);
  // To every joined name but `from`, all or none. Returns how many got it.
  size_t broadcast(const std::string& from, nlohmann::json payload);
  // The next message for `name`; throws timeout.
  BusMessage receive(const std::string& name, std::chrono::milliseconds timeout);
  // The next `count` messages, taken together once all are there; on timeout they stay
  // in the mailbox.
  std::vector<BusMessage> receive_n(const std::string& name, size_t count, std::chrono::milliseconds timeout);
  // Stops the actor now: receivers still waiting get `stopped`.
  void stop();

 private:
  friend struct coordination_access;
  explicit Bus(std::shared_ptr<detail::coordination_actor> actor) : actor_(std::move(actor)) {}
  std::shared_ptr<detail::coordination_actor> actor_;
};

// ---------------------------------------------------------------- Barrier

struct BarrierRelease {
  uint64_t generation = 0;   // 1 for the first round at a sync point, then 2, 3, ...
  size_t arrival_index = 0;  // 0 for the first to arrive, parties - 1 for the last
  nlohmann::json result;     // what the action returned (null without one)
};

// Runs once per generation, when the last party arrives, inside the barrier actor
// (keep it short). Each arrival is {"party": name, "value": what it brought}, in
// arrival order. Its result goes to every party; if it throws, the generation breaks.
using BarrierAction = std::function<nlohmann::json(const std::vector<nlohmann::json>& arrivals)>;

// Named sync points. A wait that times out, a party that leaves and a party that dies
// while it waits break the generation for every party waiting there (kind broken,
// naming it); a broken sync point refuses arrivals with that cause until reset().
// The first `parties` distinct party names are a sync point's roster: any other name,
// or a second arrival in one generation, gets extra_party.
class Barrier {
 public:
  // `parties`: of sync points used without define(); 0 means define() them first.
  explicit Barrier(Runtime& runtime, size_t parties = 0, std::string label = "barrier");

  // (Re)defines sync point `name`, while nobody waits there; clears a broken state.
  void define(const std::string& name, size_t parties, BarrierAction action = nullptr);
  // Waits until all parties are there. Throws timeout, broken or extra_party.
  BarrierRelease arrive(const std::string& name, const std::string& party, std::chrono::milliseconds timeout,
                        nlohmann::json value = nullptr);
  // `party` withdraws: the current generation breaks for everyone waiting at `name`.
  void leave(const std::string& name, const std::string& party, const std::string& reason = "");
  // Ends a broken state (and breaks the generation if anybody waits): a new generation.
  uint64_t reset(const std::string& name);
  void stop();

 private:
  friend struct coordination_access;
  explicit Barrier(std::shared_ptr<detail::coordination_actor> actor) : actor_(std::move(actor)) {}
  std::shared_ptr<detail::coordination_actor> actor_;
};

// ---------------------------------------------------------------- Blackboard

struct BoardEntry {
  std::string key;
  bool exists = false;    // false: the key is absent (value is null)
  nlohmann::json value;
  uint64_t version = 0;   // writes to this key so far
};

struct CasResult {
  bool swapped = false;
  BoardEntry current;     // after the attempt: the new entry, or what blocked the swap
};

// A condition on one key. op: exists | absent | equals | not_equals | gt | gte | lt | lte
// (the comparisons hold only between two numbers or two strings). An absent key
// reads as null.
struct BoardCondition {
  std::string key;
  std::string op;
  nlohmann::json value;
};

// Key-value state shared by the agents of a run; each call is atomic.
class Blackboard {
 public:
  explicit Blackboard(Runtime& runtime, std::string label = "blackboard");

  BoardEntry get(const std::string& key);
  BoardEntry put(const std::string& key, nlohmann::json value);
  BoardEntry erase(const std::string& key);
  // Atomic read-modify-write inside the blackboard actor; if `f` throws, nothing
  // changes and the call throws invalid_argument.
  BoardEntry update(const std::string& key, std::function<nlohmann::json(const nlohmann::json& current, bool exists)> f);
  // The same operations the message protocol has: increment (a number; absent is 0),
  // append (to an array; absent is []), merge_patch (RFC 7386).
  BoardEntry increment(const std::string& key, nlohmann::json delta = 1);
  BoardEntry append(const std::string& key, nlohmann::json value);
  BoardEntry merge_patch(const std::string& key, nlohmann::json patch);
  // Writes `desired` only if the key holds `expected` (absent holds null).
  CasResult compare_and_set(const std::string& key, nlohmann::json expected, nlohmann::json desired);
  // Returns the entry as soon as the condition holds (checked now and after every
  // write to its key); throws timeout.
  BoardEntry wait_until(const BoardCondition& condition, std::chrono::milliseconds timeout);
  BoardEntry wait_until(const std::string& key, std::function<bool(const nlohmann::json& value, bool exists)> predicate,
                        std::chrono::milliseconds timeout);
  // Every present key and its value.
  nlohmann::json snapshot();
  void stop();

 private:
  friend struct coordination_access;
  explicit Blackboard(std::shared_ptr<detail::coordination_actor> actor) : actor_(std::move(actor)) {}
  std::shared_ptr<detail::coordination_actor> actor_;
};

// ---------------------------------------------------------------- in a run

// What a detached tool agent is handed (ToolCall::coordination): handles to its run's
// own bus, barrier and blackboard (they end with the run), and its name on the bus.
//
//   rt.register_tool("collector", [](const cohort::ToolCall& c) {
//     auto& run = *c.coordination;
//     auto got = run.bus.receive_n(run.self, 3, std::chrono::seconds(5));
//     run.board.increment("collected", 3);
//     return nlohmann::json(got.size());
//   });
struct RunCoordination {
  Bus bus;
  Barrier barrier;
  Blackboard board;
  std::string self;
};

}  // namespace cohort
