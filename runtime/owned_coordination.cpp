// The public coordination handles' constructors that make an actor owned by a Runtime
// (cohort/coordination.hpp): the runtime stops it when it shuts down, and the handle's
// last copy stops it before. The calls themselves are coordination/coordination_handles.cpp.
#include <caf/all.hpp>

#include "cohort/coordination.hpp"
#include "coordination/barrier.hpp"
#include "coordination/blackboard.hpp"
#include "coordination/bus.hpp"
#include "coordination/coordination_handles.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort {
namespace {

using detail::coordination_actor;

std::shared_ptr<coordination_actor> owned(Runtime& rt, caf::actor actor) {
  auto a = std::make_shared<coordination_actor>();
  a->system = &runtime_access::system(rt);
  a->actor = std::move(actor);
  a->owning = true;
  a->runtime = runtime_access::lifetime(rt);
  runtime_access::adopt(rt, a->actor);
  return a;
}

}  // namespace

Bus::Bus(Runtime& rt, BusOptions o)
    : actor_(owned(rt, spawn_bus(runtime_access::system(rt),
                                 bus_config{std::move(o.label), o.mailbox_capacity, std::move(o.names), o.max_mailboxes}))) {}

Barrier::Barrier(Runtime& rt, size_t parties, std::string label)
    : actor_(owned(rt, spawn_barrier(runtime_access::system(rt),
                                     barrier_config{std::move(label), static_cast<uint32_t>(parties)}))) {}

Blackboard::Blackboard(Runtime& rt, std::string label)
    : actor_(owned(rt, spawn_blackboard(runtime_access::system(rt), blackboard_config{std::move(label)}))) {}

}  // namespace cohort
