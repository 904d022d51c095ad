#include "cli/run_command.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/console_progress.hpp"
#include "cli/worker_command.hpp"
#include "cli/terminal_text.hpp"
#include "messages/input_limits.hpp"
#include "node/cluster.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort {
namespace {

std::atomic<int> stop_signal{0};
// SIGHUP too: a closed terminal must not kill the run with its result and events cut off.
extern "C" void on_stop_signal(int sig) { stop_signal.store(sig); }

}  // namespace

CLI::App* add_run_command(CLI::App& app, run_flags& f) {
  auto* run = app.add_subcommand("run", "run a scenario file (here, or on a node with --node)");
  run->add_option("FILE", f.file, "scenario (JSON)")->required();
  run->add_option("--input", f.input, "replacement input: JSON text or @FILE");
  run->add_option("--events", f.events, "write every event (started, finished, streamed token) to FILE, a JSON object a line");
  run->add_flag("--json", f.json, "print one JSON document on stdout");
  run->add_flag("--quiet,-q", f.quiet, "no progress lines");
  run->add_option("--node", f.node, "run on the node at this URL (http://HOST:PORT; token from COHORT_TOKEN)")
                   ->envname("COHORT_NODE");
  run->add_flag("--local", f.local, "run on this machine even when COHORT_NODE is set");
  run->add_option("--workers", f.workers,
                  "HOST:PORT,... of workers started with `cohort worker --listen`: this run places its agents on them");
  run->add_option("--cluster-secret-env", f.cluster_secret_env,
                  "environment variable holding the secret those workers expect");
  return run;
}

nlohmann::json parse_input(const std::string& arg) {
  if (!arg.empty() && arg[0] == '@') {
    auto path = arg.substr(1);
    return parse_untrusted_json(read_bounded_file(path), path);
  }
  return parse_untrusted_json(arg, "--input");
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
  }
  return "a signal";
}

int print_outcome(const RunResult& result, const run_flags& flags, const secret_mask& mask,
                  const std::shared_ptr<events_file>& events) {
  // The result first: whatever else failed, it is the run's work.
  auto text = flags.json ? json_result(result, mask) : human_result(result, mask);
  bool printed = write_all(stdout, text);
  int write_errno = errno;
  auto events_problem = events ? events->finish() : std::string();
  if (!printed) {
    std::fprintf(stderr, "cohort: writing the result to stdout failed: %s\n",
                 write_errno ? std::strerror(write_errno) : "unknown error");
    return exit_write_failed;
  }
  if (!events_problem.empty()) {
    std::fprintf(stderr, "cohort: %s\n", events_problem.c_str());
    return exit_write_failed;
  }
  if (result.ok()) return 0;
  return result.status == "cancelled" ? 130 : 1;
}

std::pair<std::shared_ptr<events_file>, EventHandler> event_outputs(const run_flags& flags,
                                                                    std::shared_ptr<const secret_mask> mask) {
  std::shared_ptr<events_file> events;
  if (!flags.events.empty()) events = std::make_shared<events_file>(flags.events, mask);
  std::shared_ptr<console_progress> progress;
  if (!flags.quiet)
    progress = std::make_shared<console_progress>(
        stderr, [mask](std::string_view line) { return escape_control_chars(mask->apply(line)); });
  EventHandler on_event;
  if (progress || events)  // events arrive one at a time (the run's event sink, the stream's reader)
    on_event = [progress, events](const Event& e) {
      if (progress) (*progress)(e);
      if (events) events->write(e);
    };
  return {events, on_event};
}

// --workers: this run is the head of a cluster without a port; the workers it invites
// join it. Null without --workers; throws std::runtime_error naming the worker at fault.
std::unique_ptr<node::cluster_head> invite_workers(Runtime& rt, const run_flags& flags) {
  if (flags.workers.empty()) return nullptr;
  node::cluster_options o;
  o.publish = false;
  if (!flags.cluster_secret_env.empty()) {
    const char* secret = std::getenv(flags.cluster_secret_env.c_str());
    if (!secret || !*secret)
      throw std::runtime_error("--cluster-secret-env " + flags.cluster_secret_env + ": the variable is not set or empty");
    o.secret = secret;
  }
  auto head = std::make_unique<node::cluster_head>(rt, o);
  size_t invited = 0;
  for (const auto& w : worker_addresses(flags.workers, "run: --workers")) {
    auto why = head->invite(w.host, w.port);
    if (!why.empty()) throw std::runtime_error("--workers: " + why);
    ++invited;
  }
  auto joined = head->wait_for_workers(invited, 10000);
  if (joined < invited)
    throw std::runtime_error("--workers: only " + std::to_string(joined) + " of " + std::to_string(invited) +
                             " invited workers joined within 10 s");
  spdlog::info("run: {} worker(s) joined", joined);
  return head;
}

int cmd_run_local(const run_flags& flags, const RuntimeOptions& runtime_options) {
  auto options = runtime_options;
  options.cluster = options.cluster || !flags.workers.empty();
  Runtime rt(options);
  auto workers = invite_workers(rt, flags);
  auto scenario = rt.load_file(flags.file);
  auto mask = std::make_shared<const secret_mask>(scenario.secrets());
  set_log_mask(mask);
  std::optional<nlohmann::json> input;
  if (!flags.input.empty()) input = parse_input(flags.input);
  auto [events, on_event] = event_outputs(flags, mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe on stdout is a failed write (exit 3), not a silent death
  auto run = rt.start(scenario, input, on_event);
  bool cancelled = false;
  std::optional<RunResult> result;
  while (!(result = runtime_access::take_result(run, std::chrono::milliseconds(20)))) {
    if (int sig = stop_signal.load(); sig != 0 && !cancelled) {
      cancelled = true;
      spdlog::warn("interrupted by {}: cancelling the run", signal_name(sig));
      run.cancel(std::string("interrupted (") + signal_name(sig) + ")");
    }
  }
  return print_outcome(*result, flags, *mask, events);
}

}  // namespace cohort
