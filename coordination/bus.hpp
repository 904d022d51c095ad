#pragma once
// The bus actor of one run: agents address each other by name. Its protocol is in
// messages/coordination.hpp (bus_*).
//
//   - A mailbox per name, created on first use: a message for an agent that has not
//     started yet waits for it.
//   - Per-sender order is kept: the bus handles one sender's requests in the order they
//     were sent (CAF keeps order between two actors) and every mailbox is a FIFO.
//   - "Known" names, the ones a broadcast reaches, are the joined ones: those given at
//     spawn (a run knows its agents before any starts) and those that sent
//     (bus_join_atom, name). A name that only received messages is not known.
//   - Mailboxes are bounded (backpressure): a send to a full one fails with
//     `mailbox_full` naming it, and the sender decides whether to wait and retry.
//   - One bus per run, so runs cannot see each other's messages.
#include <cstddef>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

namespace cohort {

struct bus_config {
  std::string label = "bus";          // named in every error (a run id, say)
  size_t mailbox_capacity = 10000;    // messages waiting per name (at least 1)
  std::vector<std::string> names;     // joined from the start
  size_t max_mailboxes = 100000;      // names with a mailbox; a new one beyond it is refused (mailbox_full)
};

// Stop it with an exit message (user_shutdown): it answers its receivers `stopped` first.
caf::actor spawn_bus(caf::actor_system& sys, bus_config config);

}  // namespace cohort
