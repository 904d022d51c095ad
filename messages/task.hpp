#pragma once
// task: what every agent (leaf or supervisor) is asked to do. The run's input is not
// copied into every task: it lives once in the run (run_context), as {{input}}.
#include <cstdint>
#include <string>

#include <caf/meta/load_callback.hpp>

#include "messages/bindings.hpp"
#include "messages/json_inspect.hpp"

namespace cohort {

struct placement_rule;

struct task {
  std::string run_id;
  std::string path;          // node path in the workflow tree, e.g. "root/researchers[2]"
  nlohmann::json bindings;   // item, index, results, acc ... bound by the parent for this task
  binding_chain inherited;   // what the ancestors bound, shared with the sibling tasks
  int64_t deadline_ms = 0;   // absolute, milliseconds since the Unix epoch; 0 = none
  int32_t attempt = 1;
  int32_t priority = 0;      // of this branch's resource requests: higher first
  bool keep_alive = false;   // an llm agent stays after answering: its parent may hand it the next task
  // On a head with workers: the nearest pattern's placement, for agents that state none
  // (it points into the run's scenario). Never crosses the network: only the head places.
  const placement_rule* placement = nullptr;
};

// Sent to another node, a task carries its names flattened into `bindings`.
template <class Inspector>
typename std::enable_if<Inspector::reads_state, typename Inspector::result_type>::type
inspect(Inspector& f, task& x) {
  auto all = x.inherited ? flatten_bindings(x.bindings, x.inherited) : x.bindings;
  return f(caf::meta::type_name("cohort.task"), x.run_id, x.path, all, x.deadline_ms, x.attempt, x.priority,
           x.keep_alive);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state, typename Inspector::result_type>::type
inspect(Inspector& f, task& x) {
  auto no_layers = [&]() -> caf::error {
    x.inherited.reset();
    return caf::none;
  };
  return f(caf::meta::type_name("cohort.task"), x.run_id, x.path, x.bindings, x.deadline_ms, x.attempt,
           x.priority, x.keep_alive, caf::meta::load_callback(no_layers));
}

}  // namespace cohort
