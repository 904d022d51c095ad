#include "runtime/public_results.hpp"

#include <cstdint>
#include <stdexcept>

namespace cohort {
namespace {

// Readers that take what a peer sent at face value only when it has the right type.
std::string text_at(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer_at(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  double d = it->get<double>();  // saturated, as a server's counts are
  if (!(d > -9.2e18)) return d < 0 ? INT64_MIN : 0;
  return d < 9.2e18 ? static_cast<int64_t>(d) : INT64_MAX;
}

double number_at(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

const nlohmann::json& object_at(const nlohmann::json& j, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

}  // namespace

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

Event Event::from_json(const nlohmann::json& j) {
  Event e;
  if (!j.is_object()) return e;
  e.kind = text_at(j, "kind");
  e.path = text_at(j, "path");
  e.agent = text_at(j, "agent");
  e.status = text_at(j, "status");
  e.message = text_at(j, e.kind == "token" ? "text" : "message");
  e.at_ms = integer_at(j, "at_ms");
  e.duration_us = integer_at(j, "duration_us");
  auto leaf = j.find("leaf");
  e.leaf = leaf != j.end() && leaf->is_boolean() && leaf->get<bool>();
  if (auto report = j.find("report"); report != j.end()) e.report = *report;
  return e;
}

RunResult RunResult::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string())
    throw std::invalid_argument("a run result needs an object with a string \"status\"");
  RunResult r;
  r.status = j["status"].get<std::string>();
  if (auto output = j.find("output"); output != j.end()) r.output = *output;
  const auto& error = object_at(j, "error");
  r.error_kind = text_at(error, "kind");
  r.error = text_at(error, "message");
  const auto& s = object_at(j, "summary");
  r.summary.wall_ms = integer_at(s, "wall_ms");
  r.summary.agent_ms_total = integer_at(s, "agent_ms_total");
  r.summary.speedup = number_at(s, "speedup");
  r.summary.model_calls = integer_at(s, "model_calls");
  r.summary.prompt_tokens = integer_at(s, "prompt_tokens");
  r.summary.completion_tokens = integer_at(s, "completion_tokens");
  r.summary.tokens = integer_at(s, "tokens");
  r.summary.cost = number_at(s, "cost");
  r.summary.usage_estimated_calls = integer_at(s, "usage_estimated_calls");
  r.summary.success_rate = number_at(s, "success_rate");
  r.summary.retries = integer_at(s, "retries");
  r.summary.agents_started = integer_at(s, "agents_started");
  const auto& b = object_at(j, "branches");
  r.branches = {integer_at(b, "succeeded"), integer_at(b, "failed"), integer_at(b, "timed_out"), integer_at(b, "cancelled")};
  r.reports = object_at(j, "reports");
  r.usage = object_at(j, "usage");
  return r;
}

}  // namespace cohort
