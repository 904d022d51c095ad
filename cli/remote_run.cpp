// `cohort run FILE --node URL`: the scenario goes to the node, its events come back as
// a stream and are shown as a local run shows them; Ctrl-C cancels the run on the node.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/node_client.hpp"
#include "cli/run_command.hpp"
#include "cli/stop_signals.hpp"
#include "cli/terminal_text.hpp"
#include "messages/input_limits.hpp"

namespace cohort {
namespace {

// How long a cancelled run may take to send its result before the CLI stops waiting.
constexpr auto cancel_wait = std::chrono::seconds(30);

// The node's 400 as `cohort validate` would say it: each problem at its path in FILE.
int refused(const node_error& e, const std::string& file, const secret_mask& mask) {
  std::string text = "cohort: " + file + ": " + e.what() + " (" + e.kind() + ")\n";
  for (const auto& p : e.problems())
    if (p.is_object())
      text += "  " + file + ": " + p.value("path", std::string("$")) + ": " + p.value("message", std::string()) + "\n";
  std::fputs(escape_control_chars(mask.apply(text)).c_str(), stderr);
  return 2;
}

// The stream's reader, on a thread of its own, while the main thread waits for signals.
class run_follower {
 public:
  run_follower(const node_client& client, std::string id, std::function<void(const Event&)> on_event)
      : client_(client), id_(std::move(id)), on_event_(std::move(on_event)), thread_([this] { follow(); }) {}
  ~run_follower() {
    stop_ = true;
    thread_.join();
  }
  bool done() const { return done_; }
  void stop() { stop_ = true; }
  // After done(): the result, or why there is none.
  std::optional<RunResult> result() {
    std::lock_guard<std::mutex> lock(mutex_);
    return result_;
  }
  std::string problem() {
    std::lock_guard<std::mutex> lock(mutex_);
    return problem_;
  }

 private:
  void follow() {
    std::string why;
    try {
      auto end = client_.follow(
          id_, 0,
          [this](const nlohmann::json& e) {
            if (e.value("kind", std::string()) != "result") return on_event_(Event::from_json(e));
            std::lock_guard<std::mutex> lock(mutex_);
            result_ = RunResult::from_json(e.at("result"));
          },
          stop_, &why);
      if (end == node_client::stream_end::lost) set_problem("lost the run's event stream: " + why);
    } catch (const std::exception& e) {
      set_problem(e.what());
    }
    done_ = true;
  }
  void set_problem(std::string text) {
    std::lock_guard<std::mutex> lock(mutex_);
    problem_ = std::move(text);
  }

  const node_client& client_;
  std::string id_;
  std::function<void(const Event&)> on_event_;
  std::mutex mutex_;
  std::optional<RunResult> result_;
  std::string problem_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: it starts once the rest is ready
};

}  // namespace

int cmd_run_remote(const run_flags& flags, const std::string& token) {
  stop_signals signals;  // before any thread, so every thread leaves them to this one
  std::signal(SIGPIPE, SIG_IGN);
  auto mask = std::make_shared<const secret_mask>(std::vector<std::string>{token});
  set_log_mask(mask);
  node_client client(flags.node, token);
  nlohmann::json body{{"scenario", parse_untrusted_json(read_bounded_file(flags.file), flags.file)}};
  if (!flags.input.empty()) body["input"] = parse_input(flags.input);
  nlohmann::json created;
  try {
    created = client.call("POST", "/v1/runs", &body);
  } catch (const node_error& e) {
    if (e.status() == 400) return refused(e, flags.file, *mask);
    throw std::runtime_error("node " + client.url() + ": " + e.what() +
                             (e.status() ? " (" + e.kind() + ", HTTP " + std::to_string(e.status()) + ")" : ""));
  }
  auto id = created.value("id", std::string());
  if (!flags.quiet) {
    std::string queued;
    if (created.value("status", std::string()) == "queued")
      queued = " (queued: position " + std::to_string(created.value("queue_position", 0)) + ")";
    std::fprintf(stderr, "run %s on %s%s\n", id.c_str(), client.url().c_str(), queued.c_str());
  }

  auto [events, on_event] = event_outputs(flags, mask);
  run_follower follower(client, id, [on_event = on_event](const Event& e) {
    if (on_event) on_event(e);
  });

  std::optional<std::chrono::steady_clock::time_point> cancelled_at;
  while (!follower.done()) {
    int sig = signals.wait_for(std::chrono::milliseconds(50));
    if (sig != 0 && cancelled_at) {
      spdlog::warn("{} again: not waiting for the cancelled run's result", signal_name(sig));
      follower.stop();
    } else if (sig != 0) {
      cancelled_at = std::chrono::steady_clock::now();
      spdlog::warn("interrupted by {}: cancelling run {} on the node", signal_name(sig), id);
      try {
        client.call("POST", "/v1/runs/" + id + "/cancel");
      } catch (const node_error& e) {
        if (e.status() != 409) spdlog::error("cancelling run {}: {}", id, e.what());  // 409: it ended meanwhile
      }
    }
    if (cancelled_at && std::chrono::steady_clock::now() - *cancelled_at > cancel_wait) follower.stop();
  }
  auto result = follower.result();
  if (!result) {
    // The stream is gone; the node may still know the result.
    if (cancelled_at) {
      if (events) events->finish();
      return 130;
    }
    try {
      auto doc = client.call("GET", "/v1/runs/" + id);
      auto status = doc.value("status", std::string());
      if (status != "running" && status != "queued") result = RunResult::from_json(doc);
    } catch (const std::exception&) {
    }
    if (!result) {
      std::fprintf(stderr, "cohort: %s; the run goes on: cohort runs get %s --node %s\n",
                   escape_control_chars(mask->apply(follower.problem())).c_str(), id.c_str(), client.url().c_str());
      if (events) events->finish();
      return 2;
    }
  }
  return print_outcome(*result, flags, *mask, events);
}

}  // namespace cohort
