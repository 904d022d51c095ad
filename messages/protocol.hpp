#pragma once
// Registers every protocol message with an actor system config, so that messages
// can be serialized (and later cross the network) under stable names.
#include <caf/fwd.hpp>

namespace cohort {

void register_messages(caf::actor_system_config& cfg);

}  // namespace cohort
