#include "cli/serve_config.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "messages/input_limits.hpp"

namespace cohort {
namespace {

// One setting: its key, the flag it stands for, and how it is read into the flags.
class node_settings {
 public:
  node_settings(const CLI::App& serve, const nlohmann::json& node, std::string where)
      : serve_(serve), node_(node), where_(std::move(where)) {}

  template <class T>
  void integer(const char* key, const char* flag, T& into, int64_t min, int64_t max) {
    const auto* v = take(key, flag);
    if (!v) return;
    bool ok = v->is_number_integer() && v->get<int64_t>() >= min && v->get<int64_t>() <= max;
    if (!ok) fail(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    into = static_cast<T>(v->get<int64_t>());
  }
  void number(const char* key, const char* flag, double& into) {
    const auto* v = take(key, flag);
    if (!v) return;
    if (!v->is_number() || v->get<double>() < 0) fail(key, "must be a number of 0 or more");
    into = v->get<double>();
  }
  void text(const char* key, const char* flag, std::string& into) {
    const auto* v = take(key, flag);
    if (!v) return;
    if (!v->is_string()) fail(key, "must be a string");
    into = v->get<std::string>();
  }
  void names(const char* key, const char* flag, std::string& into) {  // a list, kept comma-separated
    const auto* v = take(key, flag);
    if (!v) return;
    if (!v->is_array()) fail(key, "must be an array of names");
    into.clear();
    for (const auto& n : *v) {
      if (!n.is_string() || n.get<std::string>().find(',') != std::string::npos) fail(key, "must be an array of names");
      into += (into.empty() ? "" : ",") + n.get<std::string>();
    }
  }
  void check_known(const std::vector<std::string>& known) const {
    for (const auto& [key, value] : node_.items())
      if (std::find(known.begin(), known.end(), key) == known.end()) fail(key.c_str(), "is not a node setting");
  }

 private:
  // The value when the file has it and the command line did not say otherwise.
  const nlohmann::json* take(const char* key, const char* flag) const {
    auto it = node_.find(key);
    if (it == node_.end() || serve_.get_option(flag)->count() > 0) return nullptr;
    return &*it;
  }
  [[noreturn]] void fail(const char* key, const std::string& what) const {
    throw std::runtime_error(where_ + ": $.node." + key + " " + what);
  }

  const CLI::App& serve_;
  const nlohmann::json& node_;
  std::string where_;
};

}  // namespace

void apply_node_config(const CLI::App& serve, const nlohmann::json& doc, const std::string& where, serve_flags& f) {
  if (!doc.is_object() || !doc.contains("node")) return;
  const auto& node = doc["node"];
  if (!node.is_object()) throw std::runtime_error(where + ": $.node must be an object");
  constexpr int64_t int_max = std::numeric_limits<int>::max();
  node_settings s(serve, node, where);
  s.check_known({"bind", "port", "data", "scenarios", "models", "token_env", "allowed_key_env", "max_runs", "queue",
                 "max_body_bytes", "watcher_queue", "keep_runs", "keep_days", "drain_s", "cluster_port", "cluster_bind",
                 "cluster_secret_env", "workers"});
  s.text("bind", "--bind", f.node.bind);
  s.integer("port", "--port", f.node.port, 0, 65535);
  s.text("data", "--data", f.node.data_dir);
  s.text("scenarios", "--scenarios", f.node.scenarios_dir);
  s.text("models", "--models", f.node.models_file);
  s.text("token_env", "--token-env", f.token_env);
  s.names("allowed_key_env", "--allowed-key-env", f.allowed_key_env);
  s.integer("max_runs", "--max-runs", f.node.max_runs, 1, 100000);
  s.integer("queue", "--queue", f.node.queue, 0, 10000000);
  s.integer("max_body_bytes", "--max-body-bytes", f.node.max_body_bytes, 1, int64_t{1} << 32);
  s.integer("watcher_queue", "--watcher-queue", f.node.watcher_queue, 1, 10000000);
  s.integer("keep_runs", "--keep-runs", f.node.keep_runs, 0, int64_t{1} << 40);
  s.number("keep_days", "--keep-days", f.node.keep_days);
  s.integer("drain_s", "--drain-s", f.drain_s, 0, int_max / 1000);
  s.integer("cluster_port", "--cluster-port", f.node.cluster_port, 0, 65535);
  s.text("cluster_bind", "--cluster-bind", f.node.cluster_bind);
  s.text("cluster_secret_env", "--cluster-secret-env", f.cluster_secret_env);
  s.names("workers", "--workers", f.workers);
}

void apply_node_workers(const CLI::App& run, const std::string& config_file, run_flags& f) {
  if (config_file.empty()) return;
  auto doc = parse_untrusted_json(read_bounded_file(config_file), config_file);
  if (!doc.is_object() || !doc.contains("node")) return;
  if (!doc["node"].is_object()) throw std::runtime_error(config_file + ": $.node must be an object");
  node_settings s(run, doc["node"], config_file);
  s.names("workers", "--workers", f.workers);
  s.text("cluster_secret_env", "--cluster-secret-env", f.cluster_secret_env);
}

}  // namespace cohort
