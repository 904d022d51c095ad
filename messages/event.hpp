#pragma once
// event: what the run reports while it works (progress lines, logs, metrics).
#include <cstdint>
#include <string>

#include "messages/json_inspect.hpp"
#include "messages/result.hpp"

namespace cohort {

// token_reset: a streamed call failed after some pieces; they do not count (it may be tried again).
enum class event_kind : uint8_t { started = 0, finished = 1, token = 2, note = 3, token_reset = 4 };

const char* to_string(event_kind k);

struct event {
  std::string run_id;
  std::string path;
  event_kind kind = event_kind::note;
  outcome status = outcome::succeeded;  // meaningful for `finished`
  std::string agent;                    // agent name, or pattern type for supervisors
  bool pattern = false;                 // sent by a supervisor
  std::string message;
  int64_t at_ms = 0;                    // Unix epoch milliseconds
  int64_t duration_us = 0;              // for `finished`
  nlohmann::json report;                // for a finished pattern: its result's report
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("cohort.event"), x.run_id, x.path, x.kind, x.status, x.agent, x.pattern,
           x.message, x.at_ms, x.duration_us, x.report);
}

}  // namespace cohort
