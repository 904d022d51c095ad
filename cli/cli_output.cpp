#include "cli/cli_output.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "cli/terminal_text.hpp"

namespace cohort {
namespace {

std::string joined_ids(const nlohmann::json& ids, const char* sep) {
  std::string out;
  for (auto& id : ids) out += (out.empty() ? "" : sep) + id.get<std::string>();
  return out;
}

// "3 turns, 3 calls: web_search 2, calculator 1; 1 failed": a tool loop's report in a line.
std::string tool_loop_line(const nlohmann::json& rep) {
  std::vector<std::pair<std::string, int>> per_tool;
  int not_ok = 0;
  for (const auto& c : rep.value("calls", nlohmann::json::array())) {
    auto name = c.value("tool", std::string("?"));
    auto it = std::find_if(per_tool.begin(), per_tool.end(), [&](const auto& p) { return p.first == name; });
    if (it == per_tool.end()) per_tool.emplace_back(name, 1);
    else ++it->second;
    if (c.value("status", std::string()) != "succeeded") ++not_ok;
  }
  auto line = std::to_string(rep.value("turns", 0)) + " turn(s), " + std::to_string(rep["calls"].size()) + " call(s)";
  for (size_t i = 0; i < per_tool.size(); ++i)
    line += (i ? ", " : ": ") + per_tool[i].first + " " + std::to_string(per_tool[i].second);
  if (not_ok > 0) line += "; " + std::to_string(not_ok) + " did not succeed";
  return line;
}

// One or two lines per pattern that had something to say (the full reports are in --json).
void print_reports(std::FILE* out, const nlohmann::json& reports) {
  if (reports.empty()) return;
  std::fprintf(out, "\n== patterns ==\n");
  size_t tool_loops = 0;
  for (auto& [path, rep] : reports.items()) {
    if (rep.contains("transcript") && rep.contains("turns") && ++tool_loops <= 10)
      std::fprintf(out, "%s: tool loop, %s\n", path.c_str(), escape_control_chars(tool_loop_line(rep)).c_str());
    const nlohmann::json& dag = rep;  // a plan's DAG reports under its own path
    if (rep.contains("plan")) {
      const auto& plan = rep["plan"];
      auto nodes = !plan.is_object() ? plan : plan.contains("nodes") ? plan["nodes"] : plan.value("agents", nlohmann::json());
      std::fprintf(out, "%s: plan of %zu nodes after %zu attempt(s)\n", path.c_str(), nodes.size(), rep["attempts"].size());
    }
    if (rep.contains("attempts") && !rep.contains("plan"))
      std::fprintf(out, "%s: fallback, %zu attempt(s), the last %s\n", path.c_str(), rep["attempts"].size(),
                  rep["attempts"].back().value("outcome", std::string("?")).c_str());
    if (dag.contains("layers")) {
      std::fprintf(out, "%s: %zu layers", path.c_str(), dag["layers"].size());
      if (dag.contains("efficiency"))
        std::fprintf(out, ", critical path %s (%.0f ms of %.0f ms wall), efficiency %.1f%%", joined_ids(dag["critical_path"], " -> ").c_str(),
                    dag["critical_path_ms"].get<double>(), dag["wall_ms"].get<double>(), 100 * dag["efficiency"].get<double>());
      std::fprintf(out, "\n");
    }
    if (rep.contains("runners"))
      std::fprintf(out, "%s: race won by %s\n", path.c_str(), rep.value("winner", std::string("nobody")).c_str());
    if (rep.contains("failures")) {
      std::fprintf(out, "%s: %lld succeeded, %zu failed (%s)\n", path.c_str(), rep["succeeded"].get<long long>(),
                  rep["failures"].size(), rep["policy"].get<std::string>().c_str());
      size_t shown = 0;
      for (auto& f : rep["failures"]) {
        if (++shown > 5) {
          std::fprintf(out, "    ... (all in --json)\n");
          break;
        }
        std::fprintf(out, "    %s: %s (%s, %d attempt(s))\n", f["path"].get<std::string>().c_str(),
                    f["status"].get<std::string>().c_str(), f["kind"].get<std::string>().c_str(), f["attempts"].get<int>());
      }
    }
    if (rep.contains("stopped"))
      std::fprintf(out, "%s: simulation of %lld agents, %d round(s) (ended by %s), %lld messages, %lld failed actions\n",
                  path.c_str(), rep["agents"].get<long long>(), rep["rounds"].get<int>(),
                  rep["stopped"].get<std::string>().c_str(), rep["messages"].get<long long>(),
                  rep["failed_actions"].get<long long>());
    if (rep.contains("iterations"))
      std::fprintf(out, "%s: %d iteration(s), %s\n", path.c_str(), rep["iterations"].get<int>(),
                  rep["accepted"].get<bool>() ? "accepted" : "not accepted");
  }
  if (tool_loops > 10) std::fprintf(out, "... %zu more tool loops (all in --json)\n", tool_loops - 10);
}

// The biggest spenders among the usage rows ({"agents"} or {"patterns"} of
// RunResult::usage), by tokens, at most 8 of them.
void print_usage_rows(std::FILE* out, const char* title, const nlohmann::json& rows) {
  if (!rows.is_object() || rows.size() < 2) return;  // one row says no more than the totals
  std::vector<std::pair<std::string, const nlohmann::json*>> sorted;
  for (const auto& [name, u] : rows.items())
    if (u.value("model_calls", 0) > 0) sorted.emplace_back(name, &u);
  if (sorted.size() < 2) return;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second->value("tokens", 0) > b.second->value("tokens", 0);
  });
  std::fprintf(out, "%s\n", title);
  const size_t shown = std::min<size_t>(sorted.size(), 8);
  for (size_t i = 0; i < shown; ++i) {
    const auto& [name, u] = sorted[i];
    std::string label = name;
    if (u->contains("pattern")) label += " (" + u->value("pattern", std::string()) + ")";
    std::fprintf(out, "  %-40s %6lld calls %10lld tokens", label.c_str(), static_cast<long long>(u->value("model_calls", 0)),
                static_cast<long long>(u->value("tokens", 0)));
    if (u->value("cost", 0.0) > 0) std::fprintf(out, "  cost %.6f", u->value("cost", 0.0));
    std::fprintf(out, "%s\n", u->value("usage_estimated_calls", 0) > 0 ? "  (estimated)" : "");
  }
  if (sorted.size() > shown) std::fprintf(out, "  ... and %zu more (--json has them all)\n", sorted.size() - shown);
}

void print_human(std::FILE* out, const RunResult& r) {
  std::fprintf(out, "\n== output (%s) ==\n", r.status.c_str());
  if (r.output.is_string()) std::fprintf(out, "%s\n", r.output.get<std::string>().c_str());
  else std::fprintf(out, "%s\n", r.output.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (!r.ok()) std::fprintf(out, "\nerror (%s): %s\n", r.error_kind.c_str(), r.error.c_str());
  const auto& s = r.summary;
  print_reports(out, r.reports);
  std::fprintf(out, "\n== summary ==\n");
  std::fprintf(out, "wall time        %lld ms\n", static_cast<long long>(s.wall_ms));
  std::fprintf(out, "agent time, sum  %lld ms (one after another)\n", static_cast<long long>(s.agent_ms_total));
  std::fprintf(out, "speedup          %.2fx\n", s.speedup);
  std::fprintf(out, "model calls      %lld\n", static_cast<long long>(s.model_calls));
  std::fprintf(out, "tokens           %lld (prompt %lld, completion %lld)\n", static_cast<long long>(s.tokens),
              static_cast<long long>(s.prompt_tokens), static_cast<long long>(s.completion_tokens));
  if (s.cost > 0) std::fprintf(out, "cost             %.6f (at the models' \"price\" per million tokens)", s.cost);
  else std::fprintf(out, "cost             0 (a model's \"price\" per million tokens counts it)");
  if (s.usage_estimated_calls > 0)
    std::fprintf(out, "; usage estimated for %lld of %lld calls (the server sent none)",
                static_cast<long long>(s.usage_estimated_calls), static_cast<long long>(s.model_calls));
  std::fprintf(out, "\n");
  std::fprintf(out, "branches         %lld succeeded, %lld failed, %lld timed out, %lld cancelled\n",
              static_cast<long long>(r.branches.succeeded), static_cast<long long>(r.branches.failed),
              static_cast<long long>(r.branches.timed_out), static_cast<long long>(r.branches.cancelled));
  std::fprintf(out, "success rate     %.1f%% (%lld retries)\n", 100 * s.success_rate, static_cast<long long>(s.retries));
  std::fprintf(out, "agents started   %lld\n", static_cast<long long>(s.agents_started));
  if (r.usage.is_object()) {
    print_usage_rows(out, "usage by agent", r.usage.value("agents", nlohmann::json::object()));
    print_usage_rows(out, "usage by pattern (its whole subtree)", r.usage.value("patterns", nlohmann::json::object()));
  }
}

std::mutex log_mask_mutex;
std::shared_ptr<const secret_mask> log_mask = std::make_shared<secret_mask>();

// stderr, as spdlog's own sink would write it, after the mask and the escaping.
class masked_stderr_sink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::shared_ptr<const secret_mask> mask;
    {
      std::lock_guard<std::mutex> lock(log_mask_mutex);
      mask = log_mask;
    }
    auto line = escape_control_chars(mask->apply(std::string_view(formatted.data(), formatted.size())));
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

std::string human_result(const RunResult& r, const secret_mask& mask) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  if (!out) throw std::runtime_error(std::string("cannot render the result: ") + std::strerror(errno));
  print_human(out, r);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return escape_control_chars(mask.apply(text));
}

std::string json_result(const RunResult& r, const secret_mask& mask) {
  // Replace, not throw: a server's error text or a tool's output may not be valid UTF-8.
  return mask.apply(r.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) + "\n";
}

bool write_all(std::FILE* out, const std::string& text) {
  errno = 0;
  bool ok = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  ok = std::fflush(out) == 0 && ok;
  return ok && !std::ferror(out);
}

events_file::events_file(const std::string& path, std::shared_ptr<const secret_mask> mask)
    : path_(path), mask_(std::move(mask)), file_(std::fopen(path.c_str(), "w")) {
  if (!file_) throw std::runtime_error("--events: cannot write \"" + path + "\": " + std::strerror(errno));
}

events_file::~events_file() {
  if (file_) std::fclose(file_);
}

void events_file::write(const Event& e) {
  if (first_errno_ != 0) return;  // said once, at the end
  auto line = mask_->apply(e.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) first_errno_ = errno ? errno : EIO;
}

std::string events_file::finish() {
  if (std::fflush(file_) != 0 && first_errno_ == 0) first_errno_ = errno ? errno : EIO;
  if (std::fclose(file_) != 0 && first_errno_ == 0) first_errno_ = errno ? errno : EIO;
  file_ = nullptr;
  if (first_errno_ == 0) return {};
  return "--events: writing \"" + path_ + "\" failed: " + std::strerror(first_errno_) + " (the events file is incomplete)";
}

void log_to_stderr_masked(const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>("cohort", std::make_shared<masked_stderr_sink>());
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

void set_log_mask(std::shared_ptr<const secret_mask> mask) {
  std::lock_guard<std::mutex> lock(log_mask_mutex);
  log_mask = std::move(mask);
}

}  // namespace cohort
