#include "run/run_events.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

namespace cohort {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

template_scope make_scope(const run_context& ctx, const task& t) {
  return template_scope(t.bindings, t.inherited.get(), *ctx.input);
}

namespace {

void send_event(const run_context& ctx, const task& t, event e) {
  e.run_id = t.run_id;
  e.path = t.path;
  e.at_ms = now_ms();
  caf::anon_send(ctx.events, std::move(e));
}

}  // namespace

void emit(const run_context& ctx, const task& t, event_kind kind, const std::string& agent,
          outcome status, const std::string& message, int64_t duration_us) {
  if (!ctx.events || !ctx.all_events) return;
  event e;
  e.kind = kind;
  e.status = status;
  e.agent = agent;
  e.message = message;
  e.duration_us = duration_us;
  send_event(ctx, t, std::move(e));
}

void emit_pattern(const run_context& ctx, const task& t, event_kind kind, const std::string& pattern,
                  outcome status, const std::string& message, int64_t duration_us, nlohmann::json report) {
  // Without a listener, only reports travel (the run result collects them).
  if (!ctx.events || (!ctx.all_events && report.is_null())) return;
  event e;
  e.kind = kind;
  e.status = status;
  e.agent = pattern;
  e.pattern = true;
  e.message = message;
  e.duration_us = duration_us;
  e.report = std::move(report);
  send_event(ctx, t, std::move(e));
}

int64_t child_timeout_ms(const run_context& ctx, const task& t, int own_timeout_ms) {
  int64_t limit = own_timeout_ms > 0 ? own_timeout_ms : ctx.default_timeout_ms;
  if (t.deadline_ms > 0) limit = std::min<int64_t>(limit, t.deadline_ms - now_ms());
  return std::max<int64_t>(limit, 1);
}

int64_t child_deadline_ms(const task& t, int64_t timeout_ms) {
  auto own = now_ms() + timeout_ms;
  return t.deadline_ms > 0 ? std::min(t.deadline_ms, own) : own;
}

result failure(outcome status, std::string kind, std::string message) {
  result r;
  r.status = status;
  r.error = {std::move(kind), std::move(message)};
  return r;
}

}  // namespace cohort
