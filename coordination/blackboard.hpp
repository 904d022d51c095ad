#pragma once
// The blackboard actor of one run: shared key-value state (JSON values). Its protocol
// is in messages/coordination.hpp (board_*).
//
//   - Every operation is atomic: the actor does one at a time. Over messages, updates
//     are increment, append and JSON merge patch (board_op), and compare-and-set
//     (board_cas); embedded C++ code can apply any function (board_update_fn).
//   - wait: a condition on one key (board_wait: exists, absent, equals, not_equals,
//     gt, gte, lt, lte; or a C++ predicate, board_wait_fn) is checked at once and again
//     after every write to that key; the reply is the entry that made it hold, or
//     `timeout`.
//   - (get_atom) answers the whole board as one JSON object.
#include <string>

#include <caf/fwd.hpp>

namespace cohort {

struct blackboard_config {
  std::string label = "blackboard";  // named in every error (a run id, say)
};

// Stop it with an exit message (user_shutdown): it answers its waiters `stopped` first.
caf::actor spawn_blackboard(caf::actor_system& sys, blackboard_config config);

}  // namespace cohort
