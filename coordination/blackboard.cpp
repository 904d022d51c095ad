// The blackboard actor (blackboard.hpp): entries with versions, and waiters indexed by
// the key their condition is about, so a write re-checks only the waiters it concerns.
#include "coordination/blackboard.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/all.hpp>

#include "messages/coordination.hpp"
#include "run/deadline_queue.hpp"

namespace cohort {
namespace {

using nlohmann::json;

struct slot {
  bool exists = false;
  json value;
  uint64_t version = 0;  // kept when erased, so versions never repeat
};

struct board_waiter {
  std::string key;
  board_condition condition;                         // used when there is no predicate
  std::shared_ptr<const board_predicate> predicate;  // C++ callers
  int64_t timeout_ms = 0;
  caf::response_promise promise;
};

struct blackboard_state {
  const char* name = "blackboard";
  blackboard_config config;
  std::unordered_map<std::string, slot> entries;
  std::unordered_map<std::string, std::vector<uint64_t>> waiting_on;  // key -> waiter ids
  std::unordered_map<uint64_t, board_waiter> waiters;
  uint64_t next_waiter = 1;
  deadline_queue deadlines;
};

using blackboard_actor = caf::stateful_actor<blackboard_state>;

bool known_condition(const std::string& op) {
  for (const char* known : {"exists", "absent", "equals", "not_equals", "gt", "gte", "lt", "lte"})
    if (op == known) return true;
  return false;
}

// An absent key reads as null, as in compare-and-set.
bool holds(const board_condition& c, const slot& s) {
  static const json null_value;
  const json& v = s.exists ? s.value : null_value;
  if (c.op == "exists") return s.exists;
  if (c.op == "absent") return !s.exists;
  if (c.op == "equals") return v == c.value;
  if (c.op == "not_equals") return v != c.value;
  bool comparable = (v.is_number() && c.value.is_number()) || (v.is_string() && c.value.is_string());
  if (!comparable) return false;
  if (c.op == "gt") return v > c.value;
  if (c.op == "gte") return v >= c.value;
  if (c.op == "lt") return v < c.value;
  if (c.op == "lte") return v <= c.value;
  return false;
}

json add_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a.get<int64_t>() + b.get<int64_t>();
  return a.get<double>() + b.get<double>();
}

class blackboard_logic {
 public:
  explicit blackboard_logic(blackboard_actor* self) : self_(self) {}

  caf::result<board_entry> apply(board_op& op) {
    if (op.key.empty()) return invalid("an operation needs a key");
    auto it = st().entries.find(op.key);
    bool exists = it != st().entries.end() && it->second.exists;
    json current = exists ? it->second.value : json();
    if (op.op == "get") return entry(op.key);
    if (op.op == "put") return write(op.key, std::move(op.value));
    if (op.op == "erase") return erase(op.key);
    if (op.op == "increment") {
      json delta = op.value.is_null() ? json(1) : op.value;
      if (!delta.is_number()) return invalid("increment of '" + op.key + "' by " + delta.dump() + ": not a number");
      if (!exists) current = 0;
      if (!current.is_number())
        return invalid("increment of '" + op.key + "': it holds " + current.dump() + ", not a number");
      return write(op.key, add_numbers(current, delta));
    }
    if (op.op == "append") {
      if (!exists) current = json::array();
      if (!current.is_array()) return invalid("append to '" + op.key + "': it holds " + current.dump() + ", not an array");
      current.push_back(std::move(op.value));
      return write(op.key, std::move(current));
    }
    if (op.op == "merge_patch") {
      current.merge_patch(op.value);
      return write(op.key, std::move(current));
    }
    return invalid("unknown operation '" + op.op + "' on '" + op.key +
                   "' (get, put, erase, increment, append, merge_patch)");
  }

  caf::result<board_entry> update(const board_update_fn& u) {
    if (u.key.empty() || !u.update) return invalid("an update needs a key and a function");
    auto it = st().entries.find(u.key);
    bool exists = it != st().entries.end() && it->second.exists;
    json next;
    try {
      next = (*u.update)(exists ? it->second.value : json(), exists);
    } catch (const std::exception& e) {
      return invalid("the update of '" + u.key + "' failed, nothing changed: " + e.what());
    } catch (...) {
      return invalid("the update of '" + u.key + "' failed, nothing changed");
    }
    return write(u.key, std::move(next));
  }

  board_cas_result compare_and_set(board_cas& c) {
    auto it = st().entries.find(c.key);
    bool exists = it != st().entries.end() && it->second.exists;
    if ((exists ? it->second.value : json()) != c.expected) return {false, entry(c.key)};
    return {true, write(c.key, std::move(c.desired))};
  }

  caf::result<board_entry> wait(const board_wait& w) {
    const auto& c = w.condition;
    if (c.key.empty()) return invalid("a condition needs a key");
    if (!known_condition(c.op))
      return invalid("unknown condition '" + c.op + "' on '" + c.key +
                     "' (exists, absent, equals, not_equals, gt, gte, lt, lte)");
    board_waiter waiter;
    waiter.key = c.key;
    waiter.condition = c;
    return enqueue(std::move(waiter), w.timeout_ms);
  }

  caf::result<board_entry> wait_fn(const board_wait_fn& w) {
    if (w.key.empty() || !w.predicate) return invalid("a wait needs a key and a predicate");
    board_waiter waiter;
    waiter.key = w.key;
    waiter.predicate = w.predicate;
    return enqueue(std::move(waiter), w.timeout_ms);
  }

  json snapshot() {
    json out = json::object();
    for (auto& [key, s] : st().entries)
      if (s.exists) out[key] = s.value;
    return out;
  }

  void wake(int64_t armed_for) {
    auto& st = this->st();
    arm_wake(self_, st.deadlines.wake(armed_for, [&](uint64_t id) { timed_out(id); }));
    st.deadlines.compact(st.waiters.size(), [&](uint64_t id) { return st.waiters.count(id) > 0; });
  }

  void stop(const caf::exit_msg& em) {
    for (auto& [id, w] : st().waiters)
      w.promise.deliver(coordination_error(coordination_errc::stopped, where() + " stopped while a wait on '" + w.key +
                                                                "' was pending (" +
                                                                self_->system().render(em.reason) + ")"));
    st().waiters.clear();
    self_->quit(em.reason);
  }

 private:
  blackboard_state& st() { return self_->state; }

  std::string where() const { return "blackboard of " + self_->state.config.label; }

  caf::error invalid(const std::string& what) {
    return coordination_error(coordination_errc::invalid_argument, where() + ": " + what);
  }

  board_entry entry(const std::string& key) {
    auto it = st().entries.find(key);
    if (it == st().entries.end()) return board_entry{key, false, nullptr, 0};
    return board_entry{key, it->second.exists, it->second.value, it->second.version};
  }

  board_entry write(const std::string& key, json value) {
    auto& s = st().entries[key];
    s.exists = true;
    s.value = std::move(value);
    ++s.version;
    notify(key, s);
    return board_entry{key, true, s.value, s.version};
  }

  board_entry erase(const std::string& key) {
    auto it = st().entries.find(key);
    if (it == st().entries.end() || !it->second.exists) return entry(key);
    auto& s = it->second;
    s.exists = false;
    s.value = nullptr;
    ++s.version;
    notify(key, s);
    return entry(key);
  }

  // Whether `w` is settled by `s`: its condition holds, or its C++ predicate threw
  // (then `err` says so, and that is the waiter's answer).
  bool settled(const board_waiter& w, const slot& s, caf::error& err) {
    if (!w.predicate) return holds(w.condition, s);
    try {
      return (*w.predicate)(s.exists ? s.value : json(), s.exists);
    } catch (const std::exception& e) {
      err = invalid(std::string("the condition on '") + w.key + "' failed: " + e.what());
      return true;
    } catch (...) {
      err = invalid("the condition on '" + w.key + "' failed");
      return true;
    }
  }

  caf::result<board_entry> enqueue(board_waiter w, int64_t timeout_ms) {
    if (timeout_ms <= 0) return invalid("a wait on '" + w.key + "' needs a timeout > 0");
    static const slot absent;
    auto it = st().entries.find(w.key);
    caf::error err;
    if (settled(w, it == st().entries.end() ? absent : it->second, err)) {
      if (err) return err;
      return entry(w.key);
    }
    auto& st = this->st();
    auto id = st.next_waiter++;
    w.timeout_ms = timeout_ms;
    w.promise = self_->make_response_promise();
    auto promise = w.promise;
    st.waiting_on[w.key].push_back(id);
    st.waiters.emplace(id, std::move(w));
    arm_wake(self_, st.deadlines.add(deadline_queue::clock::now() + std::chrono::milliseconds(timeout_ms), id));
    return promise;
  }

  // A write to `key`: the waiters whose condition now holds get the entry.
  void notify(const std::string& key, const slot& s) {
    auto& st = this->st();
    auto list = st.waiting_on.find(key);
    if (list == st.waiting_on.end()) return;
    board_entry now{key, s.exists, s.value, s.version};
    auto& ids = list->second;
    ids.erase(std::remove_if(ids.begin(), ids.end(),
                             [&](uint64_t id) {
                               auto it = st.waiters.find(id);
                               if (it == st.waiters.end()) return true;
                               caf::error err;
                               if (!settled(it->second, s, err)) return false;
                               if (err) it->second.promise.deliver(std::move(err));
                               else it->second.promise.deliver(now);
                               st.waiters.erase(it);
                               return true;
                             }),
              ids.end());
    if (ids.empty()) st.waiting_on.erase(list);
  }

  void timed_out(uint64_t id) {
    auto& st = this->st();
    auto it = st.waiters.find(id);
    if (it == st.waiters.end()) return;
    auto& w = it->second;
    auto e = entry(w.key);
    auto what = w.predicate ? std::string("its condition") : w.condition.op + " " + w.condition.value.dump();
    w.promise.deliver(coordination_error(coordination_errc::timeout,
                              where() + ": '" + w.key + "' did not meet " + what + " within " +
                                  std::to_string(w.timeout_ms) + " ms (it " +
                                  (e.exists ? "holds " + e.value.dump() : std::string("is absent")) + ")"));
    auto& ids = st.waiting_on[w.key];
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) st.waiting_on.erase(w.key);
    st.waiters.erase(it);
  }

  blackboard_actor* self_;
};

caf::behavior blackboard(blackboard_actor* self, blackboard_config config) {
  self->state.config = std::move(config);
  auto logic = std::make_shared<blackboard_logic>(self);
  self->set_exit_handler([=](caf::exit_msg& em) { logic->stop(em); });
  return {
    [=](board_op& op) { return logic->apply(op); },
    [=](const board_update_fn& u) { return logic->update(u); },
    [=](board_cas& c) { return logic->compare_and_set(c); },
    [=](const board_wait& w) { return logic->wait(w); },
    [=](const board_wait_fn& w) { return logic->wait_fn(w); },
    [=](caf::get_atom) { return logic->snapshot(); },
    [=](wake_atom, int64_t armed_for) { logic->wake(armed_for); },
  };
}

}  // namespace

caf::actor spawn_blackboard(caf::actor_system& sys, blackboard_config config) {
  return sys.spawn(blackboard, std::move(config));
}

}  // namespace cohort
