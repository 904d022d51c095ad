// The barrier actor (barrier.hpp). One actor serves every sync point of a run rather
// than one actor per name: a run has a handful of sync points, each is a little state,
// and the run context then owns one handle to hand out and one actor to stop. A sync
// point with 10,000 parties is bound by the one actor counting them either way.
#include "coordination/barrier.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "coordination/barrier_state.hpp"
#include "messages/coordination.hpp"

namespace cohort {
namespace {

using namespace barrier_parts;
using barrier_actor = caf::stateful_actor<barrier_state>;

// At most five names, for messages about 10,000 parties.
template <class Names>
std::string some_names(const Names& names) {
  std::string out;
  size_t n = 0;
  for (const auto& name : names) {
    if (n == 5) return out + ", ... (" + std::to_string(names.size()) + " in all)";
    out += (n++ ? ", '" : "'") + name + "'";
  }
  return out;
}

class barrier_logic {
 public:
  explicit barrier_logic(barrier_actor* self) : self_(self) {}

  caf::result<uint64_t> define(const std::string& name, uint32_t parties,
                               std::shared_ptr<const barrier_action> action) {
    if (name.empty() || parties == 0)
      return coordination_error(coordination_errc::invalid_argument,
                     label() + ": a sync point needs a name and at least one party");
    auto& sp = st().points[name];
    if (!sp.waiting.empty())
      return coordination_error(coordination_errc::invalid_argument,
                     where(name) + ": cannot be redefined while " + std::to_string(sp.waiting.size()) +
                         " parties wait there");
    if (sp.joined.size() > parties)
      return coordination_error(coordination_errc::invalid_argument,
                     where(name) + ": " + std::to_string(sp.joined.size()) + " parties joined, more than " +
                         std::to_string(parties));
    sp.parties = parties;
    sp.action = std::move(action);
    sp.broken.clear();
    sp.roster.clear();
    for (auto& kv : sp.joined) sp.roster.insert(kv.first);
    return sp.generation;
  }

  caf::result<barrier_release> arrive(barrier_arrive& a) {
    if (a.name.empty() || a.party.empty())
      return coordination_error(coordination_errc::invalid_argument, label() + ": an arrival names its sync point and its party");
    if (a.timeout_ms <= 0)
      return coordination_error(coordination_errc::invalid_argument,
                     where(a.name) + ": party '" + a.party + "' must wait with a timeout > 0");
    auto* sp = point(a.name);
    if (!sp) return undefined(a.name);
    if (!sp->broken.empty()) return refused(a.name, *sp);
    if (auto err = admit(a.name, *sp, a.party)) return err;
    if (sp->present.count(a.party))
      return coordination_error(coordination_errc::extra_party, where(a.name) + ": party '" + a.party +
                                                         "' already arrived in generation " +
                                                         std::to_string(sp->generation));
    if (sp->action) sp->arrivals.push_back({{"party", a.party}, {"value", std::move(a.value)}});
    if (sp->waiting.size() + 1 == sp->parties) return release(a.name, *sp);
    auto& st = this->st();
    auto id = st.next_waiter++;
    auto& w = st.waiters[id];
    w.point = a.name;
    w.party = a.party;
    w.timeout_ms = a.timeout_ms;
    watch_sender(id, w);  // first: making the promise takes the sender out of the message
    w.promise = self_->make_response_promise();
    sp->waiting.push_back(id);
    sp->present.emplace(a.party, id);
    arm_wake(self_, st.deadlines.add(deadline_queue::clock::now() + std::chrono::milliseconds(a.timeout_ms), id));
    return w.promise;
  }

  caf::result<uint64_t> join(const std::string& name, const std::string& party) {
    auto* sp = point(name);
    if (!sp) return undefined(name);
    if (party.empty()) return coordination_error(coordination_errc::invalid_argument, where(name) + ": a party needs a name");
    if (!sp->broken.empty()) return refused(name, *sp);
    const auto& sender = self_->current_sender();
    if (!sender) return coordination_error(coordination_errc::invalid_argument, where(name) + ": join needs an actor to watch");
    if (auto err = admit(name, *sp, party)) return err;
    forget_joined(name, *sp, party);  // joined again, perhaps by another actor
    auto& w = watch_of(sender);
    w.joined.emplace_back(name, party);
    sp->joined[party] = sender->id();
    return sp->generation;
  }

  caf::result<uint64_t> leave(const barrier_leave& l) {
    auto* point = this->point(l.name);
    if (!point) return undefined(l.name);
    auto& sp = *point;
    forget_joined(l.name, sp, l.party);
    sp.roster.erase(l.party);
    if (sp.broken.empty())
      break_point(l.name, sp, "party '" + l.party + "' left" + (l.reason.empty() ? "" : " (" + l.reason + ")"));
    return sp.generation;
  }

  void withdraw(const barrier_withdraw& w) {
    auto& st = this->st();
    auto point = st.points.find(w.name);
    if (point == st.points.end()) return;
    auto& sp = point->second;
    auto present = sp.present.find(w.party);
    if (present == sp.present.end()) return;
    auto id = present->second;
    auto waiting = st.waiters.find(id);
    // Only the arrival this sender made: a new arrival of the party stays.
    const auto& sender = self_->current_sender();
    if (waiting == st.waiters.end() || !sender || waiting->second.watched != sender->id()) return;
    waiting->second.promise.deliver(coordination_error(
        coordination_errc::stopped, where(w.name) + ": party '" + w.party + "' withdrew its arrival"));
    unwatch(id, waiting->second);
    st.waiters.erase(waiting);
    sp.present.erase(present);
    sp.waiting.erase(std::find(sp.waiting.begin(), sp.waiting.end(), id));
    auto& arrivals = sp.arrivals;
    arrivals.erase(std::remove_if(arrivals.begin(), arrivals.end(),
                                  [&](const nlohmann::json& a) { return a["party"] == w.party; }),
                   arrivals.end());
  }

  caf::result<uint64_t> reset(const std::string& name) {
    auto* point = this->point(name);
    if (!point) return undefined(name);
    auto& sp = *point;
    if (!sp.waiting.empty()) break_point(name, sp, "it was reset");
    sp.broken.clear();
    ++sp.generation;
    return sp.generation;
  }

  void wake(int64_t armed_for) {
    auto& st = this->st();
    arm_wake(self_, st.deadlines.wake(armed_for, [&](uint64_t id) {
      auto it = st.waiters.find(id);
      if (it != st.waiters.end()) timed_out(id, it->second);
    }));
    compact();
  }

  // A watched actor ended: it breaks every sync point it waited at or joined.
  void party_down(const caf::down_msg& dm) {
    auto& st = this->st();
    auto it = st.watched.find(dm.source.id());
    if (it == st.watched.end()) return;
    auto w = std::move(it->second);
    st.watched.erase(it);
    auto why = self_->system().render(dm.reason);
    for (auto id : w.waiting) {
      auto wit = st.waiters.find(id);
      if (wit == st.waiters.end()) continue;
      auto name = wit->second.point;
      auto party = wit->second.party;
      auto& sp = st.points.at(name);
      sp.roster.erase(party);
      break_point(name, sp, "party '" + party + "' ended while waiting (" + why + ")");
    }
    for (auto& [name, party] : w.joined) {
      auto& sp = st.points.at(name);
      sp.joined.erase(party);
      sp.roster.erase(party);
      if (sp.broken.empty()) break_point(name, sp, "party '" + party + "' ended (" + why + ")");
    }
    compact();
  }

  // Shut down: nobody is left waiting without an answer.
  void stop(const caf::exit_msg& em) {
    for (auto& [id, w] : st().waiters)
      w.promise.deliver(coordination_error(coordination_errc::stopped, where(w.point) + " stopped while party '" + w.party +
                                                                "' waited (" + self_->system().render(em.reason) + ")"));
    st().waiters.clear();
    self_->quit(em.reason);
  }

 private:
  barrier_state& st() { return self_->state; }

  std::string label() const { return "barrier of " + self_->state.config.label; }
  std::string where(const std::string& name) const {
    return "barrier '" + name + "' of " + self_->state.config.label;
  }

  // The sync point, created with the default number of parties on first use.
  sync_point* point(const std::string& name) {
    auto& st = this->st();
    auto it = st.points.find(name);
    if (it != st.points.end()) return &it->second;
    if (st.config.default_parties == 0 || name.empty()) return nullptr;
    auto& sp = st.points[name];
    sp.parties = st.config.default_parties;
    return &sp;
  }

  caf::error undefined(const std::string& name) {
    return coordination_error(coordination_errc::invalid_argument,
                   where(name) + " is not defined (define it with its number of parties)");
  }

  caf::error refused(const std::string& name, const sync_point& sp) {
    return coordination_error(coordination_errc::broken, where(name) + " is broken: " + sp.broken + "; reset it to use it again");
  }

  // A party new to the roster takes a free place, if there is one.
  caf::error admit(const std::string& name, sync_point& sp, const std::string& party) {
    if (sp.roster.count(party)) return {};
    if (sp.roster.size() >= sp.parties)
      return coordination_error(coordination_errc::extra_party,
                     where(name) + " has all its " + std::to_string(sp.parties) + " parties (" +
                         some_names(sp.roster) + "); '" + party + "' is an extra party");
    sp.roster.insert(party);
    return {};
  }

  caf::result<barrier_release> release(const std::string& name, sync_point& sp) {
    nlohmann::json result;
    if (sp.action) {
      try {
        result = (*sp.action)(sp.arrivals);
      } catch (const std::exception& e) {
        break_point(name, sp, std::string("its action failed (") + e.what() + ")");
        return refused(name, sp);
      } catch (...) {
        break_point(name, sp, "its action failed (an exception that is not a std::exception)");
        return refused(name, sp);
      }
    }
    auto& st = this->st();
    barrier_release out{name, sp.generation, 0, std::move(result)};
    for (size_t i = 0; i < sp.waiting.size(); ++i) {
      auto it = st.waiters.find(sp.waiting[i]);
      out.arrival_index = static_cast<uint32_t>(i);
      it->second.promise.deliver(out);
      unwatch(it->first, it->second);
      st.waiters.erase(it);
    }
    out.arrival_index = static_cast<uint32_t>(sp.waiting.size());
    end_generation(sp);
    ++sp.generation;
    compact();
    return out;
  }

  // The current generation of `sp` breaks: every waiter gets `broken` with the cause,
  // except the one whose timeout broke it (it gets its own `timeout`).
  void break_point(const std::string& name, sync_point& sp, const std::string& cause, uint64_t culprit = 0,
                   const caf::error& culprit_error = {}) {
    auto& st = this->st();
    sp.broken = cause + " in generation " + std::to_string(sp.generation);
    auto err = coordination_error(coordination_errc::broken, where(name) + " is broken: " + sp.broken);
    for (auto id : sp.waiting) {
      auto it = st.waiters.find(id);
      it->second.promise.deliver(id == culprit ? culprit_error : err);
      unwatch(id, it->second);
      st.waiters.erase(it);
    }
    end_generation(sp);
  }

  void end_generation(sync_point& sp) {
    sp.waiting.clear();
    sp.present.clear();
    sp.arrivals.clear();
  }

  void timed_out(uint64_t id, const waiter& w) {
    auto& sp = st().points.at(w.point);
    auto name = w.point;
    auto counts = " (" + std::to_string(sp.waiting.size()) + " of " + std::to_string(sp.parties) + " arrived" +
                  missing(sp) + ")";
    auto after = " timed out after " + std::to_string(w.timeout_ms) + " ms";
    auto own = coordination_error(coordination_errc::timeout, where(name) + ": party '" + w.party + "'" + after +
                                                       " in generation " + std::to_string(sp.generation) + counts);
    break_point(name, sp, "party '" + w.party + "'" + after + counts, id, own);
  }

  // The roster's parties not here yet, when the roster is complete (else unknown).
  std::string missing(const sync_point& sp) const {
    if (sp.roster.size() < sp.parties) return "";
    std::vector<std::string> names;
    for (const auto& p : sp.roster)
      if (!sp.present.count(p)) names.push_back(p);
    std::sort(names.begin(), names.end());
    return names.empty() ? "" : "; missing " + some_names(names);
  }

  watch& watch_of(const caf::strong_actor_ptr& who) {
    auto [it, fresh] = st().watched.try_emplace(who->id());
    if (fresh) {
      it->second.addr = caf::actor_cast<caf::actor_addr>(who);
      self_->monitor(who);
    }
    return it->second;
  }

  void watch_sender(uint64_t id, waiter& w) {
    const auto& sender = self_->current_sender();
    if (!sender) return;
    watch_of(sender).waiting.push_back(id);
    w.watched = sender->id();
  }

  void unwatch_if_idle(std::unordered_map<caf::actor_id, watch>::iterator it) {
    if (!it->second.waiting.empty() || !it->second.joined.empty()) return;
    self_->demonitor(it->second.addr);
    st().watched.erase(it);
  }

  void unwatch(uint64_t id, const waiter& w) {
    auto it = st().watched.find(w.watched);
    if (it == st().watched.end()) return;
    auto& ids = it->second.waiting;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    unwatch_if_idle(it);
  }

  void forget_joined(const std::string& name, sync_point& sp, const std::string& party) {
    auto j = sp.joined.find(party);
    if (j == sp.joined.end()) return;
    auto it = st().watched.find(j->second);
    sp.joined.erase(j);
    if (it == st().watched.end()) return;
    auto& list = it->second.joined;
    list.erase(std::remove(list.begin(), list.end(), std::make_pair(name, party)), list.end());
    unwatch_if_idle(it);
  }

  void compact() {
    auto& st = this->st();
    st.deadlines.compact(st.waiters.size(), [&](uint64_t id) { return st.waiters.count(id) > 0; });
  }

  barrier_actor* self_;
};

caf::behavior barrier(barrier_actor* self, barrier_config config) {
  self->state.config = std::move(config);
  auto logic = std::make_shared<barrier_logic>(self);
  self->set_down_handler([=](caf::down_msg& dm) { logic->party_down(dm); });
  self->set_exit_handler([=](caf::exit_msg& em) { logic->stop(em); });
  return {
    [=](const barrier_define& d) { return logic->define(d.name, d.parties, nullptr); },
    [=](const barrier_define_fn& d) { return logic->define(d.name, d.parties, d.action); },
    [=](barrier_arrive& a) { return logic->arrive(a); },
    [=](barrier_join_atom, const std::string& name, const std::string& party) { return logic->join(name, party); },
    [=](const barrier_leave& l) { return logic->leave(l); },
    [=](const barrier_withdraw& w) { logic->withdraw(w); },
    [=](barrier_reset_atom, const std::string& name) { return logic->reset(name); },
    [=](wake_atom, int64_t armed_for) { logic->wake(armed_for); },
  };
}

}  // namespace

caf::actor spawn_barrier(caf::actor_system& sys, barrier_config config) {
  return sys.spawn(barrier, std::move(config));
}

}  // namespace cohort
