#pragma once
// The coordination protocol of one run: the bus (agent-to-agent mailboxes by name),
// the barrier (named sync points) and the blackboard (shared key-value state).
// Every request is answered with one reply struct below or with a caf::error of the
// `coordination_errc` category whose context is one string naming what failed
// (see coordination_error / coordination_error_text). Each wait carries a timeout
// in milliseconds that must be > 0: nothing here waits forever.
//
// The *_fn messages at the end carry C++ callables: they are for embedded use inside
// one process and never cross the network.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "messages/json_inspect.hpp"

namespace cohort {

// ------------------------------------------------------------------ errors

enum class coordination_errc : uint8_t {
  timeout = 1,       // a wait ran out of time
  broken,            // a barrier generation broke: another party timed out, left or died
  extra_party,       // a barrier has all its parties, or this party already arrived
  mailbox_full,      // a bus mailbox holds its capacity of messages
  stopped,           // the actor was shut down while the request waited
  invalid_argument,  // a malformed request (no name, timeout <= 0, unknown op, ...)
};

const char* to_string(coordination_errc e);

}  // namespace cohort

CAF_ERROR_CODE_ENUM(cohort::coordination_errc, "coord")

namespace cohort {

// The error with its explanation (the context carries the one string).
caf::error coordination_error(coordination_errc code, std::string message);

// The explanation of a coordination error; for any other error, its code and category.
std::string coordination_error_text(const caf::error& err);

// A fresh bus_receive::ticket, unique in the process (tickets of the node's long polls
// and of in-run agents share one mailbox name's wait list).
uint64_t next_bus_ticket();

// ------------------------------------------------------------------ bus

using bus_join_atom = caf::atom_constant<caf::atom("busjoin")>;

// One message as a receiver gets it. `id` is unique per bus and increases in the
// order the bus accepted messages, so per-sender order is visible to the receiver.
struct bus_message {
  std::string from;
  std::string to;
  uint64_t id = 0;
  nlohmann::json payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_message& x) {
  return f(caf::meta::type_name("cohort.bus_message"), x.from, x.to, x.id, x.payload);
}

// -> bus_ack, or mailbox_full
struct bus_send {
  std::string from;
  std::string to;
  nlohmann::json payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_send& x) {
  return f(caf::meta::type_name("cohort.bus_send"), x.from, x.to, x.payload);
}

// To every joined name except `from`; all or nothing: if one mailbox is full,
// nobody gets it and the error names the full ones. -> bus_ack
struct bus_broadcast {
  std::string from;
  nlohmann::json payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_broadcast& x) {
  return f(caf::meta::type_name("cohort.bus_broadcast"), x.from, x.payload);
}

struct bus_ack {
  uint64_t id = 0;          // the message's id (one id for all copies of a broadcast)
  uint32_t delivered = 0;   // mailboxes it went into
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_ack& x) {
  return f(caf::meta::type_name("cohort.bus_ack"), x.id, x.delivered);
}

// The next `count` messages of `name`'s mailbox, all at once: they are taken only when
// `count` are there, so a timed-out receive leaves the mailbox as it was. A count of 0
// takes whatever is there now, without waiting (what a prompt's {{messages}} shows).
// `at_most`: instead, as soon as one is there, take what is there up to `count` (a long
// poll over HTTP). `ticket`: nonzero from a receiver that may withdraw (bus_withdraw).
// -> std::vector<bus_message>, or timeout
struct bus_receive {
  std::string name;
  uint32_t count = 1;
  int64_t timeout_ms = 0;
  bool at_most = false;
  uint64_t ticket = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_receive& x) {
  return f(caf::meta::type_name("cohort.bus_receive"), x.name, x.count, x.timeout_ms, x.at_most, x.ticket);
}

// A receiver of `name` went away (an HTTP client hung up): its waiting receive with
// `ticket` is answered with no messages, and `unsent` (messages it was given but could
// not pass on) go back to the front of the mailbox, in order, so that nothing is lost.
// Sent after the receive by the same sender. No answer.
struct bus_withdraw {
  std::string name;
  uint64_t ticket = 0;
  std::vector<bus_message> unsent;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bus_withdraw& x) {
  return f(caf::meta::type_name("cohort.bus_withdraw"), x.name, x.ticket, x.unsent);
}

// ------------------------------------------------------------------ barrier

using barrier_join_atom = caf::atom_constant<caf::atom("barjoin")>;
using barrier_reset_atom = caf::atom_constant<caf::atom("barreset")>;

// Sets the number of parties of sync point `name` (and drops its action). Allowed
// while nobody waits there. -> generation (uint64_t)
struct barrier_define {
  std::string name;
  uint32_t parties = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_define& x) {
  return f(caf::meta::type_name("cohort.barrier_define"), x.name, x.parties);
}

// `party` reached sync point `name`, contributing `value` (what the action sees).
// -> barrier_release when all parties of this generation arrived; or timeout (this
// wait), broken (another's), extra_party.
struct barrier_arrive {
  std::string name;
  std::string party;
  nlohmann::json value;
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_arrive& x) {
  return f(caf::meta::type_name("cohort.barrier_arrive"), x.name, x.party, x.value, x.timeout_ms);
}

struct barrier_release {
  std::string name;
  uint64_t generation = 0;
  uint32_t arrival_index = 0;  // 0 for the first to arrive; parties - 1 for the last
  nlohmann::json result;       // what the action returned; null without an action
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_release& x) {
  return f(caf::meta::type_name("cohort.barrier_release"), x.name, x.generation, x.arrival_index, x.result);
}

// `party` withdraws from sync point `name`: like its death, this breaks the current
// generation for everyone waiting there, with an error naming it. -> generation
struct barrier_leave {
  std::string name;
  std::string party;
  std::string reason;
};

// `party` no longer waits at sync point `name` (its HTTP client hung up): its arrival
// in the current generation is undone, if the sender of this message made it and it
// was not released yet; nobody else is affected, and the party may arrive again.
// Its waiting arrival is answered `stopped`. No answer.
struct barrier_withdraw {
  std::string name;
  std::string party;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_withdraw& x) {
  return f(caf::meta::type_name("cohort.barrier_withdraw"), x.name, x.party);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_leave& x) {
  return f(caf::meta::type_name("cohort.barrier_leave"), x.name, x.party, x.reason);
}

// (barrier_join_atom, name, party) from an actor: the barrier watches the sender as
// `party` from now on, not only while it waits, so its death breaks the sync point
// even between generations. -> generation
// (barrier_reset_atom, name): waiters get `broken`, the broken state is cleared and a
// new generation begins. -> generation

// ------------------------------------------------------------------ blackboard

// An entry as read or written: `exists` tells an absent key from a stored null;
// `version` counts the writes to the key (0: never written).
struct board_entry {
  std::string key;
  bool exists = false;
  nlohmann::json value;
  uint64_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_entry& x) {
  return f(caf::meta::type_name("cohort.board_entry"), x.key, x.exists, x.value, x.version);
}

// One operation on one key, done atomically by the blackboard actor:
//   get            reads the entry
//   put            `value` becomes the entry's value
//   erase          removes the key (the reply has exists = false)
//   increment      adds the number `value` (default 1) to a number; absent counts as 0
//   append         pushes `value` onto an array; absent counts as []
//   merge_patch    applies `value` as an RFC 7386 JSON merge patch; absent counts as null
// -> board_entry after the operation; invalid_argument when the op does not apply.
struct board_op {
  std::string key;
  std::string op;
  nlohmann::json value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_op& x) {
  return f(caf::meta::type_name("cohort.board_op"), x.key, x.op, x.value);
}

// Writes `desired` only if the key currently holds `expected` (an absent key holds
// null). -> board_cas_result
struct board_cas {
  std::string key;
  nlohmann::json expected;
  nlohmann::json desired;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_cas& x) {
  return f(caf::meta::type_name("cohort.board_cas"), x.key, x.expected, x.desired);
}

struct board_cas_result {
  bool swapped = false;
  board_entry current;  // after the attempt
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_cas_result& x) {
  return f(caf::meta::type_name("cohort.board_cas_result"), x.swapped, x.current);
}

// A condition on one key: exists | absent | equals | not_equals | gt | gte | lt | lte.
// The comparisons hold only between two numbers or two strings.
struct board_condition {
  std::string key;
  std::string op;
  nlohmann::json value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_condition& x) {
  return f(caf::meta::type_name("cohort.board_condition"), x.key, x.op, x.value);
}

// Waits until `condition` holds (checked now and after every write to its key).
// -> board_entry of the key at that moment, or timeout.
struct board_wait {
  board_condition condition;
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, board_wait& x) {
  return f(caf::meta::type_name("cohort.board_wait"), x.condition, x.timeout_ms);
}

// (get_atom) -> the whole board as one JSON object.
// ------------------------------------------------------------------ local only (C++)

using barrier_action = std::function<nlohmann::json(const std::vector<nlohmann::json>& arrivals)>;
using board_update = std::function<nlohmann::json(const nlohmann::json& current, bool exists)>;
using board_predicate = std::function<bool(const nlohmann::json& value, bool exists)>;

// Defines sync point `name` with an action run once per generation, inside the
// barrier actor, when the last party arrives; each arrival is {"party", "value"}, in
// arrival order. Its result goes to every party; if it throws, the generation breaks.
// -> generation
struct barrier_define_fn {
  std::string name;
  uint32_t parties = 0;
  std::shared_ptr<const barrier_action> action;
};

// Replaces the key's value by `update(current, exists)`, atomically (inside the
// blackboard actor). If it throws, nothing changes and the reply is invalid_argument.
// -> board_entry
struct board_update_fn {
  std::string key;
  std::shared_ptr<const board_update> update;
};

// board_wait with a C++ predicate on the key's value. -> board_entry, or timeout
struct board_wait_fn {
  std::string key;
  std::shared_ptr<const board_predicate> predicate;
  int64_t timeout_ms = 0;
};

}  // namespace cohort

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::barrier_define_fn)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::board_update_fn)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::board_wait_fn)
