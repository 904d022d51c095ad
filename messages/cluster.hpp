#pragma once
// The cluster protocol: what a head node and its workers say to each other over CAF's
// middleman (docs/cluster.md). Every message here may come from another machine, so
// each has `inspect`; the head checks what a worker claims before it uses it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "messages/json_inspect.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"
#include "messages/version.hpp"

namespace cohort {

// Bumped whenever a message below changes shape: a worker of another protocol is refused.
constexpr int32_t cluster_protocol = 2;

using hello_atom = caf::atom_constant<caf::atom("hello")>;          // worker -> head: a challenge, please
using join_atom = caf::atom_constant<caf::atom("join")>;            // worker -> head: who I am, my proof
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;  // worker -> head, every interval
using run_spec_atom = caf::atom_constant<caf::atom("runspec")>;     // worker -> head: a run's scenario, please
using place_atom = caf::atom_constant<caf::atom("place")>;          // head-local: run this branch somewhere
using run_here_atom = caf::atom_constant<caf::atom("runhere")>;     // head-local: no worker; run it on the head
using joined_atom = caf::atom_constant<caf::atom("joined")>;        // worker-local: the head took us
using invite_atom = caf::atom_constant<caf::atom("invite")>;        // head -> listening worker: join me

// What a worker says of itself when it joins.
struct worker_info {
  std::string name;                           // for people: the host and pid by default
  std::string version;                        // cohort's version; must equal the head's
  int32_t protocol = 0;                       // cluster_protocol; must equal the head's
  int32_t slots = 0;                          // branches it runs at once
  std::map<std::string, std::string> labels;  // placement matches on these
  std::vector<std::string> tools;             // the tools its tool agents may call
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("cohort.worker_info"), x.name, x.version, x.protocol, x.slots, x.labels, x.tools);
}

// Head -> worker: run one branch of a leaf agent. The worker asks for the run's
// scenario (run_spec_atom) the first time it sees the run.
struct branch_order {
  uint64_t request_id = 0;  // the head's; an answer or a cancel names it
  std::string run_id;
  std::string agent;
  task work;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, branch_order& x) {
  return f(caf::meta::type_name("cohort.branch_order"), x.request_id, x.run_id, x.agent, x.work);
}

// Worker -> head: how the branch ended. An answer for a request the head no longer
// holds (the worker was declared lost meanwhile) is dropped.
struct branch_answer {
  uint64_t request_id = 0;
  uint64_t worker_id = 0;
  result outcome;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, branch_answer& x) {
  return f(caf::meta::type_name("cohort.branch_answer"), x.request_id, x.worker_id, x.outcome);
}

// Head -> worker: stop a branch (it answers cancelled, as an agent does).
struct branch_cancel {
  uint64_t request_id = 0;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, branch_cancel& x) {
  return f(caf::meta::type_name("cohort.branch_cancel"), x.request_id, x.reason);
}

// Head -> worker: what a run's agents need there. The worker loads the scenario
// itself, with the head's tool names (its own tools are checked at placement).
struct run_spec {
  std::string run_id;
  nlohmann::json scenario;  // the scenario document, without its input
  nlohmann::json input;     // the run's input
  std::vector<std::string> tool_names;
  int32_t default_timeout_ms = 300000;
  bool all_events = false;
  caf::actor events;  // the run's event sink on the head
  std::map<std::string, caf::actor> head_models;  // the providers of models that say "via": "head"
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_spec& x) {
  return f(caf::meta::type_name("cohort.run_spec"), x.run_id, x.scenario, x.input, x.tool_names, x.default_timeout_ms,
           x.all_events, x.events, x.head_models);
}

// Head -> worker at join: its id and how often to beat, or why it is refused.
struct worker_welcome {
  uint64_t worker_id = 0;  // 0: refused
  int32_t heartbeat_ms = 500;
  std::string refused;  // why, for the worker to say
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_welcome& x) {
  return f(caf::meta::type_name("cohort.worker_welcome"), x.worker_id, x.heartbeat_ms, x.refused);
}

}  // namespace cohort
