#pragma once
// The actor behind a coordination handle (cohort/coordination.hpp), and handles over
// actors that somebody else owns: a run owns its bus, barrier and blackboard and hands
// out handles that do not stop them.
#include <memory>

#include <caf/actor.hpp>

#include "cohort/coordination.hpp"

namespace cohort {

namespace detail {

struct coordination_actor {
  caf::actor_system* system = nullptr;
  caf::actor actor;
  bool owning = false;                   // created by a handle's constructor: stopped with its last copy
  std::weak_ptr<const void> runtime;     // empty for handles over a run's actors
  bool runtime_gone() const;
  ~coordination_actor();
};

}  // namespace detail

struct coordination_access {
  // Handles that do not stop `actor` when they go.
  static Bus bus(caf::actor_system& sys, caf::actor actor);
  static Barrier barrier(caf::actor_system& sys, caf::actor actor);
  static Blackboard blackboard(caf::actor_system& sys, caf::actor actor);

  // The actor behind a handle (tests and benches talk to it directly).
  static const caf::actor& actor(const Bus& h) { return h.actor_->actor; }
  static const caf::actor& actor(const Barrier& h) { return h.actor_->actor; }
  static const caf::actor& actor(const Blackboard& h) { return h.actor_->actor; }
};

}  // namespace cohort
