#include "cli/serve_command.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/serve_config.hpp"
#include "cli/stop_signals.hpp"
#include "cli/worker_command.hpp"
#include "messages/input_limits.hpp"
#include "node/node.hpp"

namespace cohort {

CLI::App* add_serve_command(CLI::App& app, serve_flags& f) {
  auto* serve = app.add_subcommand("serve", "run the networked node: an HTTP API for runs (docs/node.md)");
  serve->add_option("--bind", f.node.bind, "address to listen on (other than loopback only with a token)")
      ->capture_default_str();
  serve->add_option("--port", f.node.port, "port (0: any free port, printed on stdout)")->capture_default_str();
  serve->add_option("--data", f.node.data_dir, "directory of the run store (SQLite)")->capture_default_str();
  serve->add_option("--scenarios", f.node.scenarios_dir, "directory of scenarios clients may name (NAME.json)");
  serve->add_option("--models", f.node.models_file,
                    "the router's models, {\"models\": {...}} as in a scenario: /v1/chat/completions routes to them");
  serve->add_option("--token-env", f.token_env, "environment variable holding the bearer token clients must send");
  serve->add_option("--allowed-key-env", f.allowed_key_env,
                    "api_key_env names a submitted scenario may use (comma-separated; default none)");
  serve->add_option("--max-runs", f.node.max_runs, "runs at once; beyond it a submission queues (--queue) or gets 429")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--queue", f.node.queue, "submissions that may wait for a free slot, in order (0: none, 429 at once)")
      ->capture_default_str();
  serve->add_option("--watcher-queue", f.node.watcher_queue,
                    "events buffered for one slow SSE watcher before it is let go (it may resume with Last-Event-ID)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-body-bytes", f.node.max_body_bytes, "request body limit; beyond it 413")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--keep-runs", f.node.keep_runs, "ended runs kept, the newest (0: all); older ones pruned in the background")
      ->capture_default_str();
  serve->add_option("--keep-days", f.node.keep_days, "ended runs older than this many days are pruned (0: kept forever)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--cluster-port", f.node.cluster_port,
                    "workers join here (cohort worker --join HOST:PORT; 0: any free port, printed on stdout)");
  serve->add_option("--cluster-bind", f.node.cluster_bind,
                    "address of the cluster port (other than loopback only with --cluster-secret-env)")
      ->capture_default_str();
  serve->add_option("--cluster-secret-env", f.cluster_secret_env,
                    "environment variable holding the secret workers prove at join");
  serve->add_option("--workers", f.workers,
                    "HOST:PORT,... of workers started with `cohort worker --listen`: this head invites them, and "
                    "again whenever one is not a member");
  serve->add_option("--drain-s", f.drain_s, "on SIGTERM, how long running runs may finish before they are cancelled")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  return serve;
}

int cmd_serve(const CLI::App& serve, serve_flags f, const RuntimeOptions& options, const std::string& config_file) {
  if (!config_file.empty())
    apply_node_config(serve, parse_untrusted_json(read_bounded_file(config_file), config_file), config_file, f);
  if (!f.token_env.empty()) {
    const char* token = std::getenv(f.token_env.c_str());
    if (!token || !*token) {
      std::fprintf(stderr, "cohort serve: --token-env %s: the variable is not set or empty\n", f.token_env.c_str());
      return 2;
    }
    f.node.token = token;
  }
  if (!f.cluster_secret_env.empty()) {
    const char* secret = std::getenv(f.cluster_secret_env.c_str());
    if (!secret || !*secret) {
      std::fprintf(stderr, "cohort serve: --cluster-secret-env %s: the variable is not set or empty\n",
                   f.cluster_secret_env.c_str());
      return 2;
    }
    f.node.cluster_secret = secret;
  }
  f.node.cluster_workers = worker_addresses(f.workers, "serve: --workers");
  std::stringstream list(f.allowed_key_env);
  for (std::string name; std::getline(list, name, ',');)
    if (!name.empty()) f.node.allowed_key_env.push_back(name);
  stop_signals stop;
  node::node server(f.node, options);
  auto port = server.start();
  std::printf("cohort serve listening on http://%s:%u\n", f.node.bind.c_str(), port);
  if (server.cluster_port() >= 0)
    std::printf("cohort serve cluster port %s:%d\n", f.node.cluster_bind.c_str(), server.cluster_port());
  std::fflush(stdout);
  int sig = stop.wait();
  // SIGINT drains faster: a person at a terminal wants it to stop.
  int64_t grace_ms = sig == SIGINT ? 0 : static_cast<int64_t>(f.drain_s) * 1000;
  spdlog::info("serve: signal {}: draining ({} ms for running runs)", sig, grace_ms);
  server.drain_and_stop(grace_ms);
  spdlog::info("serve: stopped");
  return 0;
}

}  // namespace cohort
