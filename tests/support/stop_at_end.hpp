#pragma once
// Actors a test spawns by hand (a played head, bus or agent) end when the test ends,
// passed or not: a runtime waits for every actor of its system before it goes.
#include <vector>

#include <caf/actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace cohort::testing {

struct stop_at_end {
  std::vector<caf::actor> actors;
  ~stop_at_end() {
    for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
};

}  // namespace cohort::testing
