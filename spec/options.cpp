#include <cstdlib>
#include <limits>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cohort/options.hpp"
#include "messages/input_limits.hpp"
#include "spec/scenario.hpp"
#include "spec/tool_uses.hpp"

namespace cohort {
namespace detail {
extern const char* const default_config_text;  // generated from config/cohort.json
}

namespace {

// Threads beyond these are a typo, not a machine: each one costs a stack and a wake-up.
constexpr int64_t max_threads = 256;

int64_t read_int(const nlohmann::json& doc, const char* key, int64_t current, const std::string& where,
                 int64_t min = 0, int64_t max = std::numeric_limits<int>::max()) {
  if (!doc.contains(key)) return current;
  const auto& v = doc[key];
  bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(max) && (min <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(min))
                                         : v.is_number_integer() && v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (!in_range)
    throw std::runtime_error(where + ": \"" + key + "\" must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got " + v.dump());
  return v.get<int64_t>();
}

void apply(RuntimeOptions& o, const nlohmann::json& doc, const std::string& where) {
  if (!doc.is_object()) throw std::runtime_error(where + ": must be a JSON object");
  static const std::set<std::string> known{"scheduler_threads", "scheduler_policy", "io_threads",
                                           "default_timeout_ms", "run_timeout_ms", "log_level", "default_max_concurrency",
                                           "max_json_depth", "max_file_bytes", "max_rendered_bytes",
                                           "mcp_servers",
                                           "node"};  // `cohort serve`'s section, read by the CLI
  for (auto& [k, v] : doc.items())
    if (!known.count(k)) throw std::runtime_error(where + ": unknown setting \"" + k + "\"");
  o.scheduler_threads = static_cast<int>(read_int(doc, "scheduler_threads", o.scheduler_threads, where, 0, max_threads));
  o.io_threads = static_cast<int>(read_int(doc, "io_threads", o.io_threads, where, 1, max_threads));
  o.default_timeout_ms = static_cast<int>(read_int(doc, "default_timeout_ms", o.default_timeout_ms, where, 1));
  o.run_timeout_ms = static_cast<int>(read_int(doc, "run_timeout_ms", o.run_timeout_ms, where, 1));
  o.default_max_concurrency = static_cast<int>(read_int(doc, "default_max_concurrency", o.default_max_concurrency, where));
  o.max_json_depth = static_cast<size_t>(read_int(doc, "max_json_depth", static_cast<int64_t>(o.max_json_depth), where, 16, 5000));
  o.max_file_bytes = static_cast<size_t>(read_int(doc, "max_file_bytes", static_cast<int64_t>(o.max_file_bytes), where, 1024, int64_t{1} << 40));
  o.max_rendered_bytes = static_cast<size_t>(
      read_int(doc, "max_rendered_bytes", static_cast<int64_t>(o.max_rendered_bytes), where, 1024, int64_t{1} << 40));
  if (doc.contains("scheduler_policy")) {
    if (!doc["scheduler_policy"].is_string() ||
        (doc["scheduler_policy"] != "stealing" && doc["scheduler_policy"] != "sharing"))
      throw std::runtime_error(where + ": \"scheduler_policy\" must be \"stealing\" or \"sharing\", got " +
                               doc["scheduler_policy"].dump());
    o.scheduler_policy = doc["scheduler_policy"].get<std::string>();
  }
  if (doc.contains("log_level")) {
    if (!doc["log_level"].is_string()) throw std::runtime_error(where + ": \"log_level\" must be a string");
    o.log_level = doc["log_level"].get<std::string>();
  }
  RuntimeOptions::check_log_level(o.log_level, where);
  if (doc.contains("mcp_servers")) {
    (void)detail::read_offered_mcp_servers(doc["mcp_servers"], where);
    o.mcp_servers = doc["mcp_servers"];
  }
}

void apply_env(RuntimeOptions& o) {
  nlohmann::json doc = nlohmann::json::object();
  auto env_int = [&](const char* var, const char* key) {
    if (const char* v = std::getenv(var)) {
      try {
        size_t used = 0;
        int n = std::stoi(v, &used);
        if (used != std::string(v).size()) throw std::invalid_argument(v);
        doc[key] = n;
      } catch (const std::exception&) {
        throw std::runtime_error(std::string("environment variable ") + var + "=\"" + v +
                                 "\" is not an integer");
      }
    }
  };
  env_int("COHORT_SCHEDULER_THREADS", "scheduler_threads");
  env_int("COHORT_IO_THREADS", "io_threads");
  env_int("COHORT_DEFAULT_TIMEOUT_MS", "default_timeout_ms");
  env_int("COHORT_RUN_TIMEOUT_MS", "run_timeout_ms");
  env_int("COHORT_DEFAULT_MAX_CONCURRENCY", "default_max_concurrency");
  if (const char* v = std::getenv("COHORT_LOG_LEVEL")) doc["log_level"] = v;
  if (const char* v = std::getenv("COHORT_SCHEDULER_POLICY")) doc["scheduler_policy"] = v;
  apply(o, doc, "environment (COHORT_*)");
}

}  // namespace

RuntimeOptions RuntimeOptions::defaults() {
  RuntimeOptions o;
  apply(o, nlohmann::json::parse(detail::default_config_text), "config/cohort.json (built in)");
  return o;
}

void RuntimeOptions::check_log_level(const std::string& level, const std::string& where) {
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(level))
    throw std::runtime_error(where + ": log_level \"" + level +
                             "\" is not one of trace, debug, info, warn, error, critical, off");
}

RuntimeOptions RuntimeOptions::load(const std::string& path) {
  auto o = defaults();
  if (!path.empty()) {
    apply(o, parse_untrusted_json(read_bounded_file(path), path), path);
  }
  apply_env(o);
  return o;
}

}  // namespace cohort
