#pragma once
// What leaf agents and supervisors share: scopes for templates, events, timings.
#include <string>

#include "messages/event.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/run_context.hpp"
#include "spec/template.hpp"

namespace cohort {

// The names a template sees: the task's bindings plus the run input as "input".
template_scope make_scope(const run_context& ctx, const task& t);

// Sends an event to the run's sink, if anybody listens.
void emit(const run_context& ctx, const task& t, event_kind kind, const std::string& agent,
          outcome status = outcome::succeeded, const std::string& message = {},
          int64_t duration_us = 0);

// The same for a supervisor: `pattern` is its type; a finished one carries its report.
void emit_pattern(const run_context& ctx, const task& t, event_kind kind, const std::string& pattern,
                  outcome status = outcome::succeeded, const std::string& message = {},
                  int64_t duration_us = 0, nlohmann::json report = nullptr);

// How long a request to a child may take: its own limit, capped by the task deadline.
int64_t child_timeout_ms(const run_context& ctx, const task& t, int own_timeout_ms);

// The deadline to hand to a child that gets `timeout_ms` from now.
int64_t child_deadline_ms(const task& t, int64_t timeout_ms);

result failure(outcome status, std::string kind, std::string message);

}  // namespace cohort
