#include "node/node.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "messages/input_limits.hpp"
#include "spec/model_reader.hpp"
#include "node/cluster.hpp"
#include "node/http_server.hpp"
#include "node/node_metrics.hpp"
#include "node/model_router.hpp"
#include "node/node_api.hpp"
#include "node/run_registry.hpp"
#include "node/run_store.hpp"

namespace cohort::node {

bool is_loopback(const std::string& address) {
  return address == "127.0.0.1" || address == "::1" || address == "localhost" || address.rfind("127.", 0) == 0;
}

void check_exposure(const node_options& o) {
  if (!is_loopback(o.bind) && o.token.empty())
    throw std::invalid_argument("serve: --bind " + o.bind +
                                " would let anyone on the network run scenarios; give a token with --token-env NAME, "
                                "or bind 127.0.0.1");
}

// The router's models: the file's, each keeping a workflow's calls on one endpoint
// (affinity "run", by X-Workflow-Id) unless it says otherwise.
std::map<std::string, model_def> router_models(const std::string& file) {
  if (file.empty()) return {};
  auto doc = parse_untrusted_json(read_bounded_file(file), file);
  auto models = load_models(doc, file);
  for (auto& [name, model] : models)
    if (!doc["models"][name].contains("affinity")) model.affinity = affinity_mode::run;
  return models;
}

RuntimeOptions with_cluster(RuntimeOptions ro, const node_options& o) {
  ro.cluster = o.cluster_port >= 0 || !o.cluster_workers.empty();
  return ro;
}

std::unique_ptr<cluster_head> start_cluster(Runtime& rt, const node_options& o) {
  if (o.cluster_port < 0 && o.cluster_workers.empty()) return nullptr;
  cluster_options c;
  c.bind = o.cluster_bind;
  c.port = static_cast<uint16_t>(std::max(0, o.cluster_port));
  c.publish = o.cluster_port >= 0;  // else its workers come by invitation only
  c.secret = o.cluster_secret;
  auto head = std::make_unique<cluster_head>(rt, std::move(c));
  if (!o.cluster_workers.empty()) head->keep_inviting(o.cluster_workers);
  return head;
}

// Declared in this order so they are destroyed in reverse: the API, the router (its
// desks answer the calls they hold), the runs (cancelled, waited for), the store
// (flushed), the runtime, and the HTTP server last. Its I/O threads stop first (~node:
// no more requests), but its io_context must outlive everything that may still answer
// one of its connections, or hold one: an answer posted to a freed io_context, or a
// connection closed through it, is a use after free.
struct node::parts {
  node_options options;
  node_metrics metrics;
  http_server server;  // serves `api` (declared later: nothing is served before start())
  Runtime runtime;
  std::unique_ptr<cluster_head> cluster;  // outlives the runs: their placed branches answer through it
  run_store store;
  run_registry runs;
  model_router router;
  agent_api agents;
  a2a_server a2a;
  node_api api;

  parts(node_options o, RuntimeOptions ro)
      : options(std::move(o)),
        server(options, [this](const http_request& req) { return api.handle(req); },
               http_observer{[this](const std::string& path, unsigned status, double seconds) {
                               metrics.http_request(route_label(path), status, seconds);
                             },
                             [this](int delta) { metrics.watchers(delta); }}),
        runtime(with_cluster(std::move(ro), options)),
        cluster(start_cluster(runtime, options)),
        store(options.data_dir),
        runs(runtime, store, options, metrics),
        router(runtime, router_models(options.models_file), metrics),
        agents(runtime, runs),
        a2a(runs),
        api(runs, router, agents, a2a, cluster.get(), options, metrics) {}
};

node::node(node_options options, RuntimeOptions runtime_options) {
  check_exposure(options);
  parts_ = std::make_unique<parts>(std::move(options), std::move(runtime_options));
  const auto& dir = parts_->options.scenarios_dir;
  if (dir.empty()) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    auto name = entry.path().stem().string();
    try {
      auto doc = parse_untrusted_json(read_bounded_file(entry.path().string()), entry.path().string());
      parts_->runtime.load(doc, entry.path().string());  // refuse a broken one now, not at its first run
      parts_->runs.scenarios().add(name, std::move(doc));
    } catch (const std::exception& e) {
      spdlog::warn("serve: scenario {} not offered: {}", entry.path().string(), e.what());
    }
  }
  if (ec) throw std::runtime_error("serve: cannot read --scenarios " + dir + ": " + ec.message());
}

node::~node() {
  if (parts_) parts_->server.stop();
}

uint16_t node::start() { return parts_->server.start(); }

int node::cluster_port() const {
  return parts_->cluster && parts_->options.cluster_port >= 0 ? parts_->cluster->port() : -1;
}

void node::drain_and_stop(int64_t grace_ms) {
  parts_->api.stop_accepting();
  parts_->runs.drain(grace_ms);
  parts_->server.stop();
}

}  // namespace cohort::node
