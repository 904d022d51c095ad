#include "runtime/public_results.hpp"

namespace cohort {

Event to_public(const event& e) {
  Event out;
  out.path = e.path;
  out.kind = to_string(e.kind);
  out.status = e.kind == event_kind::finished ? to_string(e.status) : "";
  out.agent = e.agent;
  out.message = e.message;
  out.at_ms = e.at_ms;
  out.duration_us = e.duration_us;
  out.leaf = !e.pattern;
  out.report = e.report;
  return out;
}

RunResult to_public(result&& r, bool deadline_hit, int64_t wall_ms, const run_stats& usage) {
  RunResult out;
  out.status = deadline_hit && r.status == outcome::cancelled ? "timed_out" : to_string(r.status);
  out.output = std::move(r.output);
  out.error_kind = deadline_hit ? "timeout" : r.error.kind;
  out.error = r.error.message;
  out.summary.wall_ms = wall_ms;
  out.summary.agent_ms_total = r.stats.agent_us / 1000;
  out.summary.speedup = wall_ms > 0 ? static_cast<double>(r.stats.agent_us) / 1000.0 / wall_ms : 0;
  out.summary.model_calls = usage.model_calls;
  out.summary.prompt_tokens = usage.prompt_tokens;
  out.summary.completion_tokens = usage.completion_tokens;
  out.summary.tokens = saturating_add(usage.prompt_tokens, usage.completion_tokens);
  out.summary.cost = usage.cost;
  out.summary.usage_estimated_calls = usage.usage_estimated;
  out.branches = {r.stats.succeeded, r.stats.failed, r.stats.timed_out, r.stats.cancelled};
  auto settled = r.stats.succeeded + r.stats.failed + r.stats.timed_out + r.stats.cancelled;
  out.summary.success_rate = settled > 0 ? static_cast<double>(r.stats.succeeded) / static_cast<double>(settled) : 0;
  out.summary.retries = r.stats.retries;
  out.summary.agents_started = r.stats.agents_started;
  return out;
}

nlohmann::json Event::to_json() const {
  nlohmann::json j{{"kind", kind}, {"path", path}, {"agent", agent}, {"at_ms", at_ms}, {"leaf", leaf}};
  if (!status.empty()) j["status"] = status;
  if (kind == "finished") j["duration_us"] = duration_us;
  if (!message.empty()) j[kind == "token" ? "text" : "message"] = message;
  if (!report.is_null()) j["report"] = report;
  return j;
}

nlohmann::json RunResult::to_json() const {
  nlohmann::json j{
    {"status", status},
    {"output", output},
    {"summary", {{"wall_ms", summary.wall_ms},
                 {"agent_ms_total", summary.agent_ms_total},
                 {"speedup", summary.speedup},
                 {"model_calls", summary.model_calls},
                 {"prompt_tokens", summary.prompt_tokens},
                 {"completion_tokens", summary.completion_tokens},
                 {"tokens", summary.tokens},
                 {"cost", summary.cost},
                 {"usage_estimated_calls", summary.usage_estimated_calls},
                 {"success_rate", summary.success_rate},
                 {"retries", summary.retries},
                 {"agents_started", summary.agents_started}}},
    {"branches", {{"succeeded", branches.succeeded},
                  {"failed", branches.failed},
                  {"timed_out", branches.timed_out},
                  {"cancelled", branches.cancelled}}},
  };
  if (!ok()) j["error"] = {{"kind", error_kind}, {"message", error}};
  j["usage"] = usage;
  if (!reports.empty()) j["reports"] = reports;
  return j;
}

}  // namespace cohort
