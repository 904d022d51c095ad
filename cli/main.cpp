// The `cohort` command line: run a scenario (here or on a node), validate one, serve
// a node or the mock LLM, and look after a node's runs.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli_output.hpp"
#include "cli/run_command.hpp"
#include "cli/runs_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/serve_config.hpp"
#include "cli/worker_command.hpp"
#include "cli/stop_signals.hpp"
#include "cli/terminal_text.hpp"
#include "cohort/runtime.hpp"
#include "messages/input_limits.hpp"
#include "mock_llm/mock_llm_server.hpp"

namespace {

std::pair<int, int> parse_latency(const std::string& s) {
  auto dash = s.find('-');
  try {
    if (dash == std::string::npos) return {std::stoi(s), std::stoi(s)};
    return {std::stoi(s.substr(0, dash)), std::stoi(s.substr(dash + 1))};
  } catch (const std::exception&) {
    throw CLI::ValidationError("--latency-ms", "expected MS or MIN-MAX, got \"" + s + "\"");
  }
}

int cmd_mock_llm(cohort::mock_llm_options opts, const std::string& latency, const std::string& rules_file) {
  auto [lo, hi] = parse_latency(latency);
  if (lo < 0 || hi < lo) throw CLI::ValidationError("--latency-ms", "needs 0 <= MIN <= MAX");
  opts.latency_min_ms = lo;
  opts.latency_max_ms = hi;
  opts.model.name = "mock";
  opts.model.seed = opts.seed;
  if (!rules_file.empty()) {
    auto doc = cohort::parse_untrusted_json(cohort::read_bounded_file(rules_file), rules_file);
    opts.model.rules = cohort::parse_sim_rules(doc.is_object() ? doc.value("rules", nlohmann::json()) : doc,
                                               rules_file + (doc.is_object() ? ": $.rules" : ": $"));
  }
  cohort::stop_signals stop;
  cohort::mock_llm_server server(opts);
  auto port = server.start();
  std::printf("cohort mock-llm listening on %s://%s:%u\n", opts.tls_cert_file.empty() ? "http" : "https",
              opts.host.c_str(), port);
  std::fflush(stdout);
  int sig = stop.wait();
  server.stop();
  spdlog::info("mock-llm stopped by signal {}", sig);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cohort: parallel LLM agents on actors"};
  app.require_subcommand(1);
  std::string config_file, log_level;
  app.add_option("--config", config_file, "runtime settings (JSON; defaults: config/cohort.json)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");

  cohort::run_flags rf;
  auto* run = cohort::add_run_command(app, rf);
  cohort::runs_flags runs_f;
  auto* runs = cohort::add_runs_command(app, runs_f);

  auto* validate = app.add_subcommand("validate", "check a scenario file without running it");
  std::string validate_file;
  validate->add_option("FILE", validate_file, "scenario (JSON)")->required();

  auto* mock = app.add_subcommand("mock-llm", "serve an OpenAI-compatible mock LLM");
  cohort::mock_llm_options mo;
  std::string latency = "0", rules_file, faults;
  mock->add_option("--host", mo.host, "address to bind")->capture_default_str();
  mock->add_option("--port", mo.port, "port (0: any free port, printed on stdout)")->capture_default_str();
  mock->add_option("--threads", mo.threads, "I/O threads")->capture_default_str();
  mock->add_option("--latency-ms", latency, "MS or MIN-MAX")->capture_default_str();
  mock->add_option("--fault-rate", mo.fault_rate, "share of requests with a random fault")
      ->check(CLI::Range(0.0, 1.0));
  mock->add_option("--faults", faults, "faults drawn: 429,500,malformed,hang,drop (default all)");
  mock->add_option("--seed", mo.seed, "seed for faults and replies")->capture_default_str();
  mock->add_option("--retry-after", mo.retry_after_s, "Retry-After seconds on 429")->capture_default_str();
  mock->add_option("--rules", rules_file, "scripted replies (JSON array of rules)");
  mock->add_option("--fail-first", mo.fail_first, "the first N requests fail (see --fail-first-with)")
      ->capture_default_str();
  mock->add_option("--fail-first-with", mo.fail_first_with, "their fault: 429, 500, malformed, hang or drop")
      ->capture_default_str();
  bool tls = false;
  auto* tls_flag = mock->add_flag("--tls", tls, "serve HTTPS (needs --cert and --key)");
  mock->add_option("--cert", mo.tls_cert_file, "TLS certificate chain (PEM)")->needs(tls_flag)->check(CLI::ExistingFile);
  mock->add_option("--key", mo.tls_key_file, "its private key (PEM)")->needs(tls_flag)->check(CLI::ExistingFile);
  mock->add_option("--idle-timeout-ms", mo.idle_timeout_ms, "close a connection that sends nothing for this long")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  mock->add_option("--header-timeout-ms", mo.header_timeout_ms,
                   "a begun request must arrive within this long (header; then body), else 408")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  mock->add_flag("--tool-calls", mo.tool_calls, "answer with a tool call (content null) to the request's first tool");
  bool no_usage = false;
  mock->add_flag("--no-usage", no_usage, "leave \"usage\" out of every answer (cohort then estimates it)");

  cohort::serve_flags sf;
  auto* serve = cohort::add_serve_command(app, sf);
  cohort::worker_flags wf;
  auto* worker = cohort::add_worker_command(app, wf);
  cohort::cluster_flags cf;
  auto* cluster = cohort::add_cluster_command(app, cf);

  CLI11_PARSE(app, argc, argv);
  if (tls && (mo.tls_cert_file.empty() || mo.tls_key_file.empty())) {
    std::fprintf(stderr, "cohort mock-llm: --tls needs --cert FILE and --key FILE\n");
    return 2;
  }
  mo.usage = !no_usage;
  try {
    auto options = cohort::RuntimeOptions::load(config_file);
    if (!log_level.empty()) {
      cohort::RuntimeOptions::check_log_level(log_level, "--log-level");
      options.log_level = log_level;
    }
    cohort::log_to_stderr_masked(options.log_level);
    // The node's token comes from the environment only: a command line is visible to every user.
    const char* token_env = std::getenv("COHORT_TOKEN");
    std::string token = token_env ? token_env : "";
    if (*run && (rf.node.empty() || rf.local)) {
      cohort::apply_node_workers(*run, config_file, rf);
      return cohort::cmd_run_local(rf, options);
    }
    if (*run) return cohort::cmd_run_remote(rf, token);
    if (*runs) return cohort::cmd_runs(*runs, runs_f, token);
    if (*serve) return cohort::cmd_serve(*serve, sf, options, config_file);
    if (*worker) return cohort::cmd_worker(wf, options);
    if (*cluster) return cohort::cmd_cluster(cf, token);
    if (*validate) {
      cohort::Runtime rt(options);
      auto s = rt.load_file(validate_file);
      std::printf("%s: valid (scenario \"%s\")\n", validate_file.c_str(), s.name().c_str());
      return 0;
    }
    std::stringstream list(faults);
    for (std::string f; std::getline(list, f, ',');)
      if (!f.empty()) mo.faults.push_back(f);
    return cmd_mock_llm(mo, latency, rules_file);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cohort: %s\n", e.what());
    return 2;
  }
}
