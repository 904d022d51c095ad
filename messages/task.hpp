#pragma once
// task: what every agent (leaf or supervisor) is asked to do. The run's input is not
// copied into every task: it lives once in the run (run_context), as {{input}}.
#include <cstdint>
#include <string>

#include "messages/json_inspect.hpp"

namespace cohort {

struct task {
  std::string run_id;
  std::string path;          // node path in the workflow tree, e.g. "root/researchers[2]"
  nlohmann::json bindings;   // item, index, results, acc ... bound by the parents
  int64_t deadline_ms = 0;   // absolute, milliseconds since the Unix epoch; 0 = none
  int32_t attempt = 1;
  int32_t priority = 0;      // of this branch's resource requests: higher first
  bool keep_alive = false;   // an llm agent stays after answering: its parent may hand it the next task
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  return f(caf::meta::type_name("cohort.task"), x.run_id, x.path, x.bindings,
           x.deadline_ms, x.attempt, x.priority, x.keep_alive);
}

}  // namespace cohort
