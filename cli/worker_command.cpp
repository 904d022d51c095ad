#include "cli/worker_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>

#include "cli/node_client.hpp"
#include "cli/stop_signals.hpp"
#include "cohort/runtime.hpp"
#include "cohort/worker.hpp"
#include "messages/input_limits.hpp"

namespace cohort {
namespace {

std::map<std::string, std::string> parse_labels(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("worker: --labels: \"" + item + "\" is not KEY=VALUE");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

}  // namespace

std::pair<std::string, uint16_t> host_and_port(const std::string& text, const std::string& what,
                                               const std::string& default_host) {
  auto colon = text.rfind(':');
  auto host = colon == std::string::npos ? default_host : text.substr(0, colon);
  auto port_text = colon == std::string::npos ? text : text.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (host.empty() || port_text.empty() || *end != '\0' || port < 0 || port > 65535)
    throw std::invalid_argument(what + " " + text + ": give HOST:PORT");
  return {host, static_cast<uint16_t>(port)};
}

std::vector<node::worker_address> worker_addresses(const std::string& list, const std::string& what) {
  std::vector<node::worker_address> out;
  std::stringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    auto [host, port] = host_and_port(item, what, "127.0.0.1");
    out.push_back({host, port});
  }
  return out;
}

CLI::App* add_worker_command(CLI::App& app, worker_flags& f) {
  auto* worker = app.add_subcommand("worker", "join a head node's cluster and run the branches it places here");
  auto* join =
      worker->add_option("--join", f.join, "HOST:PORT of the head's cluster port (cohort serve --cluster-port)");
  auto* listen =
      worker->add_option("--listen", f.listen,
                         "[HOST:]PORT to wait on for a head that dials in (cohort run FILE --workers HOST:PORT; "
                         "0: any free port, printed on stdout)");
  join->excludes(listen);
  worker->add_option("--slots", f.slots, "branches run here at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  worker->add_option("--labels", f.labels, "KEY=VALUE,... that placement rules match (e.g. gpu=1,zone=a)");
  worker->add_option("--name", f.name, "how the head shows this worker (default: host name and pid)");
  worker->add_option("--secret-env", f.secret_env, "environment variable holding the head's cluster secret");
  worker->add_option("--models", f.models_file,
                     "this worker's own models, {\"models\": {...}}: they replace a scenario's alias of the same name");
  return worker;
}

int cmd_worker(const worker_flags& f, RuntimeOptions options) {
  WorkerOptions w;
  if (f.join.empty() && f.listen.empty())
    throw std::invalid_argument("worker: give --join HOST:PORT (dial a head) or --listen [HOST:]PORT (wait for one)");
  if (!f.join.empty()) {
    std::tie(w.head_host, w.head_port) = host_and_port(f.join, "worker: --join", "");
    if (w.head_port == 0) throw std::invalid_argument("worker: --join " + f.join + ": not a port");
  } else {
    w.listen = true;
    std::tie(w.listen_bind, w.listen_port) = host_and_port(f.listen, "worker: --listen", "127.0.0.1");
  }
  w.slots = f.slots;
  w.labels = parse_labels(f.labels);
  w.name = f.name;
  if (!f.secret_env.empty()) {
    const char* secret = std::getenv(f.secret_env.c_str());
    if (!secret || !*secret)
      throw std::invalid_argument("worker: --secret-env " + f.secret_env + ": the variable is not set or empty");
    w.secret = secret;
  }
  if (!f.models_file.empty()) {
    auto doc = parse_untrusted_json(read_bounded_file(f.models_file), f.models_file);
    if (!doc.is_object() || !doc["models"].is_object())
      throw std::invalid_argument("worker: --models " + f.models_file + ": $.models must be an object");
    w.models = doc["models"];
  }
  stop_signals stop;
  options.cluster = true;
  Runtime rt(options);
  Worker worker(rt, w);
  if (w.listen) {
    std::printf("cohort worker listening on %s:%u\n", w.listen_bind.c_str(), worker.listening_port());
    std::fflush(stdout);
  }
  auto head = w.listen ? std::string("the head that invited it") : f.join;
  bool announced = false;
  for (;;) {
    if (int sig = stop.wait_for(std::chrono::milliseconds(100))) {
      spdlog::info("worker: signal {}: stopping", sig);
      worker.stop();
      return 0;
    }
    if (auto why = worker.refused(); !why.empty()) {
      std::fprintf(stderr, "cohort worker: %s refused this worker: %s\n", head.c_str(), why.c_str());
      return 2;
    }
    if (w.listen && announced && !worker.joined()) announced = false;  // its head is gone: announce the next
    if (!announced && worker.joined()) {
      std::printf("cohort worker joined %s as worker %llu\n", head.c_str(),
                  static_cast<unsigned long long>(worker.worker_id()));
      std::fflush(stdout);
      announced = true;
    }
  }
}

CLI::App* add_cluster_command(CLI::App& app, cluster_flags& f) {
  auto* cluster =
      app.add_subcommand("cluster", "show a node's workers: labels, slots in use, branches done, heartbeats");
  cluster->add_option("--node", f.node, "the node's URL (default: COHORT_NODE)");
  cluster->add_flag("--json", f.json, "print the node's answer as JSON");
  return cluster;
}

int cmd_cluster(const cluster_flags& f, const std::string& token) {
  auto url = f.node;
  if (url.empty())
    if (const char* env = std::getenv("COHORT_NODE")) url = env;
  if (url.empty()) {
    std::fprintf(stderr, "cohort cluster: give --node URL (or COHORT_NODE)\n");
    return 2;
  }
  try {
    auto doc = node_client(url, token, std::chrono::seconds(10)).call("GET", "/v1/cluster");
    if (f.json) {
      std::printf("%s\n", doc.dump(2).c_str());
      return 0;
    }
    std::printf("%-4s %-28s %-22s %5s %5s %8s %10s\n", "ID", "NAME", "LABELS", "SLOTS", "BUSY", "DONE", "HEARD (ms)");
    for (const auto& w : doc.value("workers", nlohmann::json::array())) {
      std::string labels;
      for (const auto& [k, v] : w.value("labels", nlohmann::json::object()).items())
        labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
      std::printf("%-4lld %-28s %-22s %5d %5d %8lld %10lld\n", w.value("id", 0LL), w.value("name", "").c_str(),
                  labels.c_str(), w.value("slots", 0), w.value("busy", 0), w.value("done", 0LL),
                  w.value("last_heartbeat_ms_ago", 0LL));
    }
    std::printf("queued %lld, in flight %lld, lost workers %lld, lost branches %lld\n", doc.value("queued", 0LL),
                doc.value("in_flight", 0LL), doc.value("lost_workers", 0LL), doc.value("lost_branches", 0LL));
    return 0;
  } catch (const node_error& e) {
    std::fprintf(stderr, "cohort cluster: %s\n", e.what());
    return e.status() == 0 ? 2 : 1;
  }
}

}  // namespace cohort
