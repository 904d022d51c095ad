#pragma once
// The barrier actor of one run: named sync points for N parties, reusable generation
// after generation. Its protocol is in messages/coordination.hpp (barrier_*).
//
// What a party can count on:
//   - arrive(name, party, timeout) answers when all parties of this generation are
//     there, with the generation, the party's arrival index and the action's result;
//   - every wait has a timeout; when one runs out, that party gets `timeout` and the
//     generation breaks for everyone waiting with it (`broken`, naming the party), as
//     Python's threading.Barrier does: the others would otherwise wait for a party that
//     already gave up;
//   - a party that dies or is killed while it waits (or at any time, once it joined),
//     or that leaves, breaks the generation the same way, with an error naming it;
//   - a broken sync point stays broken, and every later arrival is refused at once with
//     the cause, until it is reset: a retrying party learns why instead of waiting for
//     a generation that cannot complete;
//   - the names of the first `parties` distinct parties form the sync point's roster;
//     any other name, or a party arriving twice in one generation, gets `extra_party`;
//   - the actor that made an arrival may withdraw it before the release (the node does
//     when a party's HTTP client hangs up): the others wait on, and the party may come
//     again.
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

namespace cohort {

struct barrier_config {
  std::string label = "barrier";  // named in every error (a run id, say)
  // Parties of a sync point used without barrier_define; 0: it must be defined first.
  uint32_t default_parties = 0;
};

// Stop it with an exit message (user_shutdown): it answers its waiters `stopped` first.
caf::actor spawn_barrier(caf::actor_system& sys, barrier_config config);

}  // namespace cohort
