#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cohort/options.hpp"

namespace cohort {
namespace detail {
extern const char* const default_config_text;  // generated from config/cohort.json
}

namespace {

int read_int(const nlohmann::json& doc, const char* key, int current, const std::string& where) {
  if (!doc.contains(key)) return current;
  const auto& v = doc[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    throw std::runtime_error(where + ": \"" + key + "\" must be a non-negative integer, got " + v.dump());
  return v.get<int>();
}

void apply(RuntimeOptions& o, const nlohmann::json& doc, const std::string& where) {
  if (!doc.is_object()) throw std::runtime_error(where + ": must be a JSON object");
  static const std::set<std::string> known{"scheduler_threads", "scheduler_policy", "io_threads", "default_timeout_ms",
                                           "run_timeout_ms", "log_level"};
  for (auto& [k, v] : doc.items())
    if (!known.count(k)) throw std::runtime_error(where + ": unknown setting \"" + k + "\"");
  o.scheduler_threads = read_int(doc, "scheduler_threads", o.scheduler_threads, where);
  o.io_threads = read_int(doc, "io_threads", o.io_threads, where);
  o.default_timeout_ms = read_int(doc, "default_timeout_ms", o.default_timeout_ms, where);
  o.run_timeout_ms = read_int(doc, "run_timeout_ms", o.run_timeout_ms, where);
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
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(o.log_level))
    throw std::runtime_error(where + ": log_level \"" + o.log_level +
                             "\" is not one of trace, debug, info, warn, error, critical, off");
  if (o.io_threads < 1) throw std::runtime_error(where + ": io_threads must be at least 1");
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

RuntimeOptions RuntimeOptions::load(const std::string& path) {
  auto o = defaults();
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open the config file");
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    apply(o, doc, path);
  }
  apply_env(o);
  return o;
}

}  // namespace cohort
