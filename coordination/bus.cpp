// The bus actor (bus.hpp): named, bounded FIFO mailboxes and the receivers waiting on
// them, first come first served.
#include "coordination/bus.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "messages/coordination.hpp"
#include "run/deadline_queue.hpp"

namespace cohort {
namespace {

struct mailbox {
  std::deque<bus_message> messages;
  std::deque<uint64_t> receivers;  // waiting receive ids, served in order
};

struct receiver {
  std::string name;
  uint32_t count = 1;
  bool at_most = false;  // bus_receive::at_most
  int64_t timeout_ms = 0;
  uint64_t ticket = 0;  // bus_receive::ticket
  caf::response_promise promise;
};

struct bus_state {
  const char* name = "bus";
  bus_config config;
  std::unordered_map<std::string, mailbox> mailboxes;
  std::set<std::string> joined;  // the names a broadcast reaches
  std::unordered_map<uint64_t, receiver> receivers;
  uint64_t next_message = 1;
  uint64_t next_receiver = 1;
  deadline_queue deadlines;
};

using bus_actor = caf::stateful_actor<bus_state>;

class bus_logic {
 public:
  explicit bus_logic(bus_actor* self) : self_(self) {}

  caf::result<uint64_t> join(const std::string& name) {
    if (name.empty()) return coordination_error(coordination_errc::invalid_argument, where() + ": a name to join is empty");
    if (!admits(name)) return too_many(name);
    st().joined.insert(name);
    st().mailboxes[name];
    return st().joined.size();
  }

  caf::result<bus_ack> send(bus_send& m) {
    if (m.to.empty()) return coordination_error(coordination_errc::invalid_argument, where() + ": a message needs a recipient");
    if (!admits(m.to)) return too_many(m.to);
    auto& mb = st().mailboxes[m.to];
    if (full(mb))
      return coordination_error(coordination_errc::mailbox_full, where() + ": the mailbox of '" + m.to + "' is full (" +
                                                          std::to_string(mb.messages.size()) +
                                                          " messages wait for it); message from '" + m.from +
                                                          "' not sent");
    auto id = st().next_message++;
    mb.messages.push_back(bus_message{std::move(m.from), m.to, id, std::move(m.payload)});
    serve(mb);
    return bus_ack{id, 1};
  }

  // All or nothing, so that no recipient sees a broadcast that another one missed.
  caf::result<bus_ack> broadcast(bus_broadcast& b) {
    auto& st = this->st();
    std::string full_ones;
    for (const auto& name : st.joined)
      if (name != b.from && full(st.mailboxes[name])) full_ones += (full_ones.empty() ? "'" : ", '") + name + "'";
    if (!full_ones.empty())
      return coordination_error(coordination_errc::mailbox_full, where() + ": broadcast from '" + b.from +
                                                          "' not sent: the mailboxes of " + full_ones + " are full");
    auto id = st.next_message++;
    uint32_t delivered = 0;
    for (const auto& name : st.joined) {
      if (name == b.from) continue;
      auto& mb = st.mailboxes[name];
      mb.messages.push_back(bus_message{b.from, name, id, b.payload});
      serve(mb);
      ++delivered;
    }
    return bus_ack{id, delivered};
  }

  caf::result<std::vector<bus_message>> receive(const bus_receive& r) {
    auto& st = this->st();
    if (r.name.empty()) return coordination_error(coordination_errc::invalid_argument, where() + ": receive needs a name");
    if (!admits(r.name)) return too_many(r.name);
    if (r.count == 0) {  // what is there now; never what a waiting receiver is owed
      auto& mb = st.mailboxes[r.name];
      return mb.receivers.empty() ? take(mb, static_cast<uint32_t>(mb.messages.size())) : std::vector<bus_message>{};
    }
    if (r.count > st.config.mailbox_capacity)
      return coordination_error(coordination_errc::invalid_argument,
                     where() + ": '" + r.name + "' asked for " + std::to_string(r.count) +
                         " messages; a mailbox holds 1 to " + std::to_string(st.config.mailbox_capacity));
    if (r.timeout_ms <= 0)
      return coordination_error(coordination_errc::invalid_argument,
                     where() + ": '" + r.name + "' must receive with a timeout > 0");
    auto& mb = st.mailboxes[r.name];
    if (mb.receivers.empty() && mb.messages.size() >= needs(r.count, r.at_most))
      return take(mb, takes(mb, r.count, r.at_most));
    auto id = st.next_receiver++;
    auto& waiting = st.receivers[id];
    waiting.name = r.name;
    waiting.count = r.count;
    waiting.at_most = r.at_most;
    waiting.timeout_ms = r.timeout_ms;
    waiting.ticket = r.ticket;
    waiting.promise = self_->make_response_promise();
    mb.receivers.push_back(id);
    arm_wake(self_, st.deadlines.add(deadline_queue::clock::now() + std::chrono::milliseconds(r.timeout_ms), id));
    return waiting.promise;
  }

  void withdraw(bus_withdraw& w) {
    auto& st = this->st();
    auto found = st.mailboxes.find(w.name);
    if (found == st.mailboxes.end()) return;
    auto& mb = found->second;
    if (w.ticket != 0) {
      auto waiting = std::find_if(mb.receivers.begin(), mb.receivers.end(),
                                  [&](uint64_t id) { return st.receivers[id].ticket == w.ticket; });
      if (waiting != mb.receivers.end()) {
        st.receivers[*waiting].promise.deliver(std::vector<bus_message>{});
        st.receivers.erase(*waiting);
        mb.receivers.erase(waiting);
      }
    }
    // Back in front and beyond the capacity if need be: they were let in once already.
    for (auto m = w.unsent.rbegin(); m != w.unsent.rend(); ++m) mb.messages.push_front(std::move(*m));
    serve(mb);
  }

  void wake(int64_t armed_for) {
    auto& st = this->st();
    arm_wake(self_, st.deadlines.wake(armed_for, [&](uint64_t id) { timed_out(id); }));
    st.deadlines.compact(st.receivers.size(), [&](uint64_t id) { return st.receivers.count(id) > 0; });
  }

  void stop(const caf::exit_msg& em) {
    for (auto& [id, r] : st().receivers)
      r.promise.deliver(coordination_error(coordination_errc::stopped, where() + " stopped while '" + r.name + "' waited (" +
                                                                self_->system().render(em.reason) + ")"));
    st().receivers.clear();
    self_->quit(em.reason);
  }

 private:
  bus_state& st() { return self_->state; }

  std::string where() const { return "bus of " + self_->state.config.label; }

  // Names come from outside too (the node's agent API): their number is bounded.
  bool admits(const std::string& name) const {
    const auto& st = self_->state;
    return st.mailboxes.size() < st.config.max_mailboxes || st.mailboxes.count(name) > 0;
  }
  caf::error too_many(const std::string& name) const {
    return coordination_error(coordination_errc::mailbox_full,
                              where() + ": '" + name + "' would be mailbox " +
                                  std::to_string(self_->state.config.max_mailboxes + 1) + ", beyond the bus's limit");
  }

  bool full(const mailbox& mb) const { return mb.messages.size() >= self_->state.config.mailbox_capacity; }

  // How many messages a receive waits for, and how many it then takes.
  static size_t needs(uint32_t count, bool at_most) { return at_most ? 1 : count; }
  static uint32_t takes(const mailbox& mb, uint32_t count, bool at_most) {
    return at_most ? static_cast<uint32_t>(std::min<size_t>(count, mb.messages.size())) : count;
  }

  static std::vector<bus_message> take(mailbox& mb, uint32_t count) {
    std::vector<bus_message> out;
    out.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      out.push_back(std::move(mb.messages.front()));
      mb.messages.pop_front();
    }
    return out;
  }

  // Hands messages to the waiting receivers, in the order they came.
  void serve(mailbox& mb) {
    auto& st = this->st();
    while (!mb.receivers.empty()) {
      auto it = st.receivers.find(mb.receivers.front());
      if (mb.messages.size() < needs(it->second.count, it->second.at_most)) return;
      it->second.promise.deliver(take(mb, takes(mb, it->second.count, it->second.at_most)));
      st.receivers.erase(it);
      mb.receivers.pop_front();
    }
  }

  void timed_out(uint64_t id) {
    auto& st = this->st();
    auto it = st.receivers.find(id);
    if (it == st.receivers.end()) return;
    auto& r = it->second;
    auto& mb = st.mailboxes[r.name];
    auto within = " within " + std::to_string(r.timeout_ms) + " ms";
    r.promise.deliver(coordination_error(
        coordination_errc::timeout,
        r.count == 1 ? where() + ": no message for '" + r.name + "'" + within
                     : where() + ": '" + r.name + "' got " + std::to_string(mb.messages.size()) + " of " +
                           std::to_string(r.count) + " messages" + within + " (they stay in its mailbox)"));
    mb.receivers.erase(std::find(mb.receivers.begin(), mb.receivers.end(), id));
    st.receivers.erase(it);
    serve(mb);  // a receiver behind it may want fewer
  }

  bus_actor* self_;
};

caf::behavior bus(bus_actor* self, bus_config config) {
  self->state.config = std::move(config);
  auto logic = std::make_shared<bus_logic>(self);
  for (const auto& name : self->state.config.names)
    if (!name.empty()) logic->join(name);
  self->set_exit_handler([=](caf::exit_msg& em) { logic->stop(em); });
  return {
    [=](bus_send& m) { return logic->send(m); },
    [=](bus_broadcast& b) { return logic->broadcast(b); },
    [=](const bus_receive& r) { return logic->receive(r); },
    [=](bus_withdraw& w) { logic->withdraw(w); },
    [=](bus_join_atom, const std::string& name) { return logic->join(name); },
    [=](wake_atom, int64_t armed_for) { logic->wake(armed_for); },
  };
}

}  // namespace

caf::actor spawn_bus(caf::actor_system& sys, bus_config config) {
  if (config.mailbox_capacity == 0) config.mailbox_capacity = 1;
  return sys.spawn(bus, std::move(config));
}

}  // namespace cohort
