// The coordination handles (cohort/coordination.hpp): each call is one request from a
// scoped actor of its own, so handles work from any thread without sharing a mailbox.
#include "cohort/coordination.hpp"

#include <optional>

#include <caf/all.hpp>

#include "coordination/barrier.hpp"
#include "coordination/blackboard.hpp"
#include "coordination/bus.hpp"
#include "coordination/coordination_handles.hpp"
#include "messages/coordination.hpp"

namespace cohort {

CoordinationError::CoordinationError(std::string kind, const std::string& message)
    : std::runtime_error(message), kind_(std::move(kind)) {}

namespace detail {

bool coordination_actor::runtime_gone() const {
  return owning && runtime.expired();
}

coordination_actor::~coordination_actor() {
  if (runtime_gone()) {
    // The actor system is gone with its runtime; releasing the handle now would reach
    // into it. The few bytes of the dead actor's control block are left behind.
    static_cast<void>(new caf::actor(std::move(actor)));
    return;
  }
  if (owning && actor) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

}  // namespace detail

namespace {

using detail::coordination_actor;
using ms = std::chrono::milliseconds;

// How long a call that does not wait (send, put, define...) may take to be answered.
constexpr ms reply_timeout{30000};
// A wait's own timeout is the actor's to enforce, with a clear error; the request
// gives it this long on top.
constexpr ms reply_margin{5000};

CoordinationError to_exception(const coordination_actor& a, const caf::error& err, const char* what) {
  if (err.category() == caf::atom("coord"))
    return {to_string(static_cast<coordination_errc>(err.code())), coordination_error_text(err)};
  std::string call = std::string(what) + ": ";
  if (err == caf::sec::request_timeout) return {"timeout", call + "no answer in time"};
  if (err == caf::sec::unexpected_message) return {"invalid_argument", call + "the actor did not understand the request"};
  return {"stopped", call + "the actor is gone (" + a.system->render(err) + ")"};
}

std::shared_ptr<coordination_actor> borrowed(caf::actor_system& sys, caf::actor actor) {
  auto a = std::make_shared<coordination_actor>();
  a->system = &sys;
  a->actor = std::move(actor);
  return a;
}

// One request, answered with a T or an error (thrown).
template <class T, class... Ts>
T ask(const coordination_actor& a, ms timeout, const char* what, Ts&&... xs) {
  if (a.runtime_gone()) throw CoordinationError("stopped", std::string(what) + ": its runtime was shut down");
  caf::scoped_actor self{*a.system};
  std::optional<T> out;
  caf::error err;
  self->request(a.actor, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { err = std::move(e); });
  if (!out) throw to_exception(a, err, what);
  return std::move(*out);
}

void stop_actor(const coordination_actor& a) {
  if (!a.runtime_gone()) caf::anon_send_exit(a.actor, caf::exit_reason::user_shutdown);
}

BusMessage to_public(bus_message&& m) {
  return BusMessage{std::move(m.from), std::move(m.to), m.id, std::move(m.payload)};
}

BoardEntry to_public(board_entry&& e) {
  return BoardEntry{std::move(e.key), e.exists, std::move(e.value), e.version};
}

int64_t count_ms(ms timeout) { return static_cast<int64_t>(timeout.count()); }

}  // namespace

// ---------------------------------------------------------------- Bus

void Bus::join(const std::string& name) {
  ask<uint64_t>(*actor_, reply_timeout, "bus join", bus_join_atom::value, name);
}

uint64_t Bus::send(const std::string& from, const std::string& to, nlohmann::json payload) {
  return ask<bus_ack>(*actor_, reply_timeout, "bus send", bus_send{from, to, std::move(payload)}).id;
}

size_t Bus::broadcast(const std::string& from, nlohmann::json payload) {
  return ask<bus_ack>(*actor_, reply_timeout, "bus broadcast", bus_broadcast{from, std::move(payload)}).delivered;
}

BusMessage Bus::receive(const std::string& name, ms timeout) {
  auto got = ask<std::vector<bus_message>>(*actor_, timeout + reply_margin, "bus receive",
                                           bus_receive{name, 1, count_ms(timeout)});
  return to_public(std::move(got.at(0)));
}

std::vector<BusMessage> Bus::receive_n(const std::string& name, size_t count, ms timeout) {
  auto got = ask<std::vector<bus_message>>(*actor_, timeout + reply_margin, "bus receive",
                                           bus_receive{name, static_cast<uint32_t>(count), count_ms(timeout)});
  std::vector<BusMessage> out;
  out.reserve(got.size());
  for (auto& m : got) out.push_back(to_public(std::move(m)));
  return out;
}

void Bus::stop() { stop_actor(*actor_); }

// ---------------------------------------------------------------- Barrier

void Barrier::define(const std::string& name, size_t parties, BarrierAction action) {
  auto n = static_cast<uint32_t>(parties);
  if (action)
    ask<uint64_t>(*actor_, reply_timeout, "barrier define",
                  barrier_define_fn{name, n, std::make_shared<const barrier_action>(std::move(action))});
  else
    ask<uint64_t>(*actor_, reply_timeout, "barrier define", barrier_define{name, n});
}

BarrierRelease Barrier::arrive(const std::string& name, const std::string& party, ms timeout,
                               nlohmann::json value) {
  auto r = ask<barrier_release>(*actor_, timeout + reply_margin, "barrier arrive",
                                barrier_arrive{name, party, std::move(value), count_ms(timeout)});
  return BarrierRelease{r.generation, r.arrival_index, std::move(r.result)};
}

void Barrier::leave(const std::string& name, const std::string& party, const std::string& reason) {
  ask<uint64_t>(*actor_, reply_timeout, "barrier leave", barrier_leave{name, party, reason});
}

uint64_t Barrier::reset(const std::string& name) {
  return ask<uint64_t>(*actor_, reply_timeout, "barrier reset", barrier_reset_atom::value, name);
}

void Barrier::stop() { stop_actor(*actor_); }

// ---------------------------------------------------------------- Blackboard

namespace {
BoardEntry board_call(const coordination_actor& a, const std::string& key, const char* op, nlohmann::json value) {
  return to_public(ask<board_entry>(a, reply_timeout, "blackboard", board_op{key, op, std::move(value)}));
}
}  // namespace

BoardEntry Blackboard::get(const std::string& key) { return board_call(*actor_, key, "get", nullptr); }

BoardEntry Blackboard::put(const std::string& key, nlohmann::json value) {
  return board_call(*actor_, key, "put", std::move(value));
}

BoardEntry Blackboard::erase(const std::string& key) { return board_call(*actor_, key, "erase", nullptr); }

BoardEntry Blackboard::increment(const std::string& key, nlohmann::json delta) {
  return board_call(*actor_, key, "increment", std::move(delta));
}

BoardEntry Blackboard::append(const std::string& key, nlohmann::json value) {
  return board_call(*actor_, key, "append", std::move(value));
}

BoardEntry Blackboard::merge_patch(const std::string& key, nlohmann::json patch) {
  return board_call(*actor_, key, "merge_patch", std::move(patch));
}

BoardEntry Blackboard::update(const std::string& key,
                              std::function<nlohmann::json(const nlohmann::json& current, bool exists)> f) {
  return to_public(ask<board_entry>(*actor_, reply_timeout, "blackboard update",
                                    board_update_fn{key, std::make_shared<const board_update>(std::move(f))}));
}

CasResult Blackboard::compare_and_set(const std::string& key, nlohmann::json expected, nlohmann::json desired) {
  auto r = ask<board_cas_result>(*actor_, reply_timeout, "blackboard compare_and_set",
                                 board_cas{key, std::move(expected), std::move(desired)});
  return CasResult{r.swapped, to_public(std::move(r.current))};
}

BoardEntry Blackboard::wait_until(const BoardCondition& c, ms timeout) {
  return to_public(ask<board_entry>(*actor_, timeout + reply_margin, "blackboard wait",
                                    board_wait{board_condition{c.key, c.op, c.value}, count_ms(timeout)}));
}

BoardEntry Blackboard::wait_until(const std::string& key,
                                  std::function<bool(const nlohmann::json& value, bool exists)> predicate,
                                  ms timeout) {
  return to_public(ask<board_entry>(
      *actor_, timeout + reply_margin, "blackboard wait",
      board_wait_fn{key, std::make_shared<const board_predicate>(std::move(predicate)), count_ms(timeout)}));
}

nlohmann::json Blackboard::snapshot() {
  return ask<nlohmann::json>(*actor_, reply_timeout, "blackboard snapshot", caf::get_atom::value);
}

void Blackboard::stop() { stop_actor(*actor_); }

// ---------------------------------------------------------------- handles over a run's actors

Bus coordination_access::bus(caf::actor_system& sys, caf::actor actor) { return Bus(borrowed(sys, std::move(actor))); }

Barrier coordination_access::barrier(caf::actor_system& sys, caf::actor actor) {
  return Barrier(borrowed(sys, std::move(actor)));
}

Blackboard coordination_access::blackboard(caf::actor_system& sys, caf::actor actor) {
  return Blackboard(borrowed(sys, std::move(actor)));
}

}  // namespace cohort
