// The `cohort` command line: run a scenario, validate one, or serve the mock LLM.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cohort/runtime.hpp"
#include "messages/input_limits.hpp"
#include "runtime/src/console_progress.hpp"
#include "runtime/src/mock_llm_server.hpp"

namespace {

std::atomic<int> interrupts{0};
extern "C" void on_interrupt(int) { interrupts.fetch_add(1); }

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("cohort");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

// --input takes JSON text, or @FILE.
nlohmann::json parse_input(const std::string& arg) {
  if (!arg.empty() && arg[0] == '@') {
    auto path = arg.substr(1);
    return cohort::parse_untrusted_json(cohort::read_bounded_file(path), path);
  }
  return cohort::parse_untrusted_json(arg, "--input");
}

std::string joined_ids(const nlohmann::json& ids, const char* sep) {
  std::string out;
  for (auto& id : ids) out += (out.empty() ? "" : sep) + id.get<std::string>();
  return out;
}

// One or two lines per pattern that had something to say (the full reports are in --json).
void print_reports(const nlohmann::json& reports) {
  if (reports.empty()) return;
  std::printf("\n== patterns ==\n");
  for (auto& [path, rep] : reports.items()) {
    const nlohmann::json& dag = rep;  // a plan's DAG reports under its own path
    if (rep.contains("plan")) {
      const auto& plan = rep["plan"];
      auto nodes = !plan.is_object() ? plan : plan.contains("nodes") ? plan["nodes"] : plan.value("agents", nlohmann::json());
      std::printf("%s: plan of %zu nodes after %zu attempt(s)\n", path.c_str(), nodes.size(), rep["attempts"].size());
    }
    if (rep.contains("attempts") && !rep.contains("plan"))
      std::printf("%s: fallback, %zu attempt(s), the last %s\n", path.c_str(), rep["attempts"].size(),
                  rep["attempts"].back().value("outcome", std::string("?")).c_str());
    if (dag.contains("layers")) {
      std::printf("%s: %zu layers", path.c_str(), dag["layers"].size());
      if (dag.contains("efficiency"))
        std::printf(", critical path %s (%.0f ms of %.0f ms wall), efficiency %.1f%%", joined_ids(dag["critical_path"], " -> ").c_str(),
                    dag["critical_path_ms"].get<double>(), dag["wall_ms"].get<double>(), 100 * dag["efficiency"].get<double>());
      std::printf("\n");
    }
    if (rep.contains("runners"))
      std::printf("%s: race won by %s\n", path.c_str(), rep.value("winner", std::string("nobody")).c_str());
    if (rep.contains("failures")) {
      std::printf("%s: %lld succeeded, %zu failed (%s)\n", path.c_str(), rep["succeeded"].get<long long>(),
                  rep["failures"].size(), rep["policy"].get<std::string>().c_str());
      size_t shown = 0;
      for (auto& f : rep["failures"]) {
        if (++shown > 5) {
          std::printf("    ... (all in --json)\n");
          break;
        }
        std::printf("    %s: %s (%s, %d attempt(s))\n", f["path"].get<std::string>().c_str(),
                    f["status"].get<std::string>().c_str(), f["kind"].get<std::string>().c_str(), f["attempts"].get<int>());
      }
    }
    if (rep.contains("stopped"))
      std::printf("%s: simulation of %lld agents, %d round(s) (ended by %s), %lld messages, %lld failed actions\n",
                  path.c_str(), rep["agents"].get<long long>(), rep["rounds"].get<int>(),
                  rep["stopped"].get<std::string>().c_str(), rep["messages"].get<long long>(),
                  rep["failed_actions"].get<long long>());
    if (rep.contains("iterations"))
      std::printf("%s: %d iteration(s), %s\n", path.c_str(), rep["iterations"].get<int>(),
                  rep["accepted"].get<bool>() ? "accepted" : "not accepted");
  }
}

// The biggest spenders among the usage rows ({"agents"} or {"patterns"} of
// RunResult::usage), by tokens, at most 8 of them.
void print_usage_rows(const char* title, const nlohmann::json& rows) {
  if (!rows.is_object() || rows.size() < 2) return;  // one row says no more than the totals
  std::vector<std::pair<std::string, const nlohmann::json*>> sorted;
  for (const auto& [name, u] : rows.items())
    if (u.value("model_calls", 0) > 0) sorted.emplace_back(name, &u);
  if (sorted.size() < 2) return;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second->value("tokens", 0) > b.second->value("tokens", 0);
  });
  std::printf("%s\n", title);
  const size_t shown = std::min<size_t>(sorted.size(), 8);
  for (size_t i = 0; i < shown; ++i) {
    const auto& [name, u] = sorted[i];
    std::string label = name;
    if (u->contains("pattern")) label += " (" + u->value("pattern", std::string()) + ")";
    std::printf("  %-40s %6lld calls %10lld tokens", label.c_str(), static_cast<long long>(u->value("model_calls", 0)),
                static_cast<long long>(u->value("tokens", 0)));
    if (u->value("cost", 0.0) > 0) std::printf("  cost %.6f", u->value("cost", 0.0));
    std::printf("%s\n", u->value("usage_estimated_calls", 0) > 0 ? "  (estimated)" : "");
  }
  if (sorted.size() > shown) std::printf("  ... and %zu more (--json has them all)\n", sorted.size() - shown);
}

void print_human(const cohort::RunResult& r) {
  std::printf("\n== output (%s) ==\n", r.status.c_str());
  if (r.output.is_string()) std::printf("%s\n", r.output.get<std::string>().c_str());
  else std::printf("%s\n", r.output.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (!r.ok()) std::printf("\nerror (%s): %s\n", r.error_kind.c_str(), r.error.c_str());
  const auto& s = r.summary;
  print_reports(r.reports);
  std::printf("\n== summary ==\n");
  std::printf("wall time        %lld ms\n", static_cast<long long>(s.wall_ms));
  std::printf("agent time, sum  %lld ms (one after another)\n", static_cast<long long>(s.agent_ms_total));
  std::printf("speedup          %.2fx\n", s.speedup);
  std::printf("model calls      %lld\n", static_cast<long long>(s.model_calls));
  std::printf("tokens           %lld (prompt %lld, completion %lld)\n", static_cast<long long>(s.tokens),
              static_cast<long long>(s.prompt_tokens), static_cast<long long>(s.completion_tokens));
  if (s.cost > 0) std::printf("cost             %.6f (at the models' \"price\" per million tokens)", s.cost);
  else std::printf("cost             0 (a model's \"price\" per million tokens counts it)");
  if (s.usage_estimated_calls > 0)
    std::printf("; usage estimated for %lld of %lld calls (the server sent none)",
                static_cast<long long>(s.usage_estimated_calls), static_cast<long long>(s.model_calls));
  std::printf("\n");
  std::printf("branches         %lld succeeded, %lld failed, %lld timed out, %lld cancelled\n",
              static_cast<long long>(r.branches.succeeded), static_cast<long long>(r.branches.failed),
              static_cast<long long>(r.branches.timed_out), static_cast<long long>(r.branches.cancelled));
  std::printf("success rate     %.1f%% (%lld retries)\n", 100 * s.success_rate, static_cast<long long>(s.retries));
  std::printf("agents started   %lld\n", static_cast<long long>(s.agents_started));
  if (r.usage.is_object()) {
    print_usage_rows("usage by agent", r.usage.value("agents", nlohmann::json::object()));
    print_usage_rows("usage by pattern (its whole subtree)", r.usage.value("patterns", nlohmann::json::object()));
  }
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

int cmd_run(const run_flags& flags, const cohort::RuntimeOptions& options) {
  cohort::Runtime rt(options);
  auto scenario = rt.load_file(flags.file);
  std::optional<nlohmann::json> input;
  if (!flags.input.empty()) input = parse_input(flags.input);
  std::shared_ptr<std::ofstream> events;
  if (!flags.events.empty()) {
    events = std::make_shared<std::ofstream>(flags.events, std::ios::trunc);
    if (!*events) throw std::runtime_error("--events: cannot write \"" + flags.events + "\"");
  }
  std::shared_ptr<cohort::console_progress> progress;
  if (!flags.quiet) progress = std::make_shared<cohort::console_progress>(stderr);
  cohort::EventHandler on_event;
  if (progress || events)  // events arrive one at a time, from the run's event sink
    on_event = [progress, events](const cohort::Event& e) {
      if (progress) (*progress)(e);
      if (events) *events << e.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    };
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  auto run = rt.start(scenario, input, on_event);
  bool cancelled = false;
  std::optional<cohort::RunResult> result;
  while (!(result = run.wait_for(std::chrono::milliseconds(20)))) {
    if (interrupts.load() > 0 && !cancelled) {
      cancelled = true;
      spdlog::warn("interrupted: cancelling the run");
      run.cancel("interrupted (SIGINT)");
    }
  }
  if (events) events->flush();
  // Replace, not throw: a server's error text or a tool's output may not be valid UTF-8.
  if (flags.json)
    std::printf("%s\n", result->to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  else print_human(*result);
  std::fflush(stdout);
  return exit_code(*result);
}

// "50" -> 50..50, "20-80" -> 20..80
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
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  cohort::mock_llm_server server(opts);
  auto port = server.start();
  std::printf("cohort mock-llm listening on %s://%s:%u\n", opts.tls_cert_file.empty() ? "http" : "https",
              opts.host.c_str(), port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
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
    setup_logging(options.log_level);
    if (*run) return cmd_run(rf, options);
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
