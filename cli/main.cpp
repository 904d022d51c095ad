// The `cohort` command line: run a scenario, validate one, or serve the mock LLM.
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
#include "cli/console_progress.hpp"
#include "cli/serve_command.hpp"
#include "cli/stop_signals.hpp"
#include "cli/terminal_text.hpp"
#include "cohort/runtime.hpp"
#include "messages/input_limits.hpp"
#include "mock_llm/mock_llm_server.hpp"

namespace {

std::atomic<int> stop_signal{0};
// SIGHUP too: a closed terminal must not kill the run with its result and events cut off.
extern "C" void on_stop_signal(int sig) { stop_signal.store(sig); }

// --input takes JSON text, or @FILE.
nlohmann::json parse_input(const std::string& arg) {
  if (!arg.empty() && arg[0] == '@') {
    auto path = arg.substr(1);
    return cohort::parse_untrusted_json(cohort::read_bounded_file(path), path);
  }
  return cohort::parse_untrusted_json(arg, "--input");
}

int exit_code(const cohort::RunResult& r) {
  if (r.ok()) return 0;
  return r.status == "cancelled" ? 130 : 1;
}

struct run_flags {
  std::string file;
  std::string input;   // JSON text or @FILE
  std::string events;  // a file for every event as JSON Lines
  bool json = false;
  bool quiet = false;
};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
  }
  return "a signal";
}

int cmd_run(const run_flags& flags, const cohort::RuntimeOptions& options) {
  cohort::Runtime rt(options);
  auto scenario = rt.load_file(flags.file);
  auto mask = std::make_shared<const cohort::secret_mask>(scenario.secrets());
  cohort::set_log_mask(mask);
  std::optional<nlohmann::json> input;
  if (!flags.input.empty()) input = parse_input(flags.input);
  std::shared_ptr<cohort::events_file> events;
  if (!flags.events.empty()) events = std::make_shared<cohort::events_file>(flags.events, mask);
  std::shared_ptr<cohort::console_progress> progress;
  if (!flags.quiet)
    progress = std::make_shared<cohort::console_progress>(
        stderr, [mask](std::string_view line) { return cohort::escape_control_chars(mask->apply(line)); });
  cohort::EventHandler on_event;
  if (progress || events)  // events arrive one at a time, from the run's event sink
    on_event = [progress, events](const cohort::Event& e) {
      if (progress) (*progress)(e);
      if (events) events->write(e);
    };
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe on stdout is a failed write (exit 3), not a silent death
  auto run = rt.start(scenario, input, on_event);
  bool cancelled = false;
  std::optional<cohort::RunResult> result;
  while (!(result = run.wait_for(std::chrono::milliseconds(20)))) {
    if (int sig = stop_signal.load(); sig != 0 && !cancelled) {
      cancelled = true;
      spdlog::warn("interrupted by {}: cancelling the run", signal_name(sig));
      run.cancel(std::string("interrupted (") + signal_name(sig) + ")");
    }
  }
  // The result first: whatever else failed, it is the run's work.
  auto text = flags.json ? cohort::json_result(*result, *mask) : cohort::human_result(*result, *mask);
  bool printed = cohort::write_all(stdout, text);
  int write_errno = errno;
  auto events_problem = events ? events->finish() : std::string();
  if (!printed) {
    std::fprintf(stderr, "cohort: writing the result to stdout failed: %s\n",
                 write_errno ? std::strerror(write_errno) : "unknown error");
    return cohort::exit_write_failed;
  }
  if (!events_problem.empty()) {
    std::fprintf(stderr, "cohort: %s\n", events_problem.c_str());
    return cohort::exit_write_failed;
  }
  return exit_code(*result);
}

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

  auto* run = app.add_subcommand("run", "run a scenario file");
  run_flags rf;
  run->add_option("FILE", rf.file, "scenario (JSON)")->required();
  run->add_option("--input", rf.input, "replacement input: JSON text or @FILE");
  run->add_option("--events", rf.events, "write every event (started, finished, streamed token) to FILE, a JSON object a line");
  run->add_flag("--json", rf.json, "print one JSON document on stdout");
  run->add_flag("--quiet,-q", rf.quiet, "no progress lines");

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
    if (*run) return cmd_run(rf, options);
    if (*serve) return cohort::cmd_serve(sf, options);
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
