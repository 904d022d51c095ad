#pragma once
// What the barrier actor (barrier.cpp) keeps: its sync points, the arrivals waiting at
// them, and the actors it watches. Included by barrier.cpp only.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/response_promise.hpp>
#include <nlohmann/json.hpp>

#include "coordination/barrier.hpp"
#include "messages/coordination.hpp"
#include "run/deadline_queue.hpp"

namespace cohort::barrier_parts {

// One arrival waiting for the rest of its generation.
struct waiter {
  std::string point;
  std::string party;
  caf::actor_id watched = 0;  // the arriving actor, monitored while it waits; 0: none
  int64_t timeout_ms = 0;
  caf::response_promise promise;
};

struct sync_point {
  uint32_t parties = 0;
  std::shared_ptr<const barrier_action> action;
  uint64_t generation = 1;
  std::vector<uint64_t> waiting;                          // waiter ids, in arrival order
  std::unordered_map<std::string, uint64_t> present;      // party -> waiter id, this generation
  std::vector<nlohmann::json> arrivals;                   // for the action: {"party", "value"}
  std::unordered_set<std::string> roster;                 // at most `parties` names
  std::unordered_map<std::string, caf::actor_id> joined;  // parties watched for life
  std::string broken;                                     // why it broke; empty: usable
};

// An actor the barrier monitors (once, however many reasons it has to).
struct watch {
  caf::actor_addr addr;
  std::vector<uint64_t> waiting;                            // its waiter ids
  std::vector<std::pair<std::string, std::string>> joined;  // (sync point, party)
};

struct barrier_state {
  const char* name = "barrier";
  barrier_config config;
  std::unordered_map<std::string, sync_point> points;
  std::unordered_map<uint64_t, waiter> waiters;
  std::unordered_map<caf::actor_id, watch> watched;
  uint64_t next_waiter = 1;
  deadline_queue deadlines;
};

}  // namespace cohort::barrier_parts
