#include "cli/runs_command.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <exception>
#include <thread>
#include <vector>

#include "cli/cli_output.hpp"
#include "cli/node_client.hpp"
#include "cli/stop_signals.hpp"
#include "cli/terminal_text.hpp"
#include "cohort/runtime.hpp"

namespace cohort {
namespace {

std::string utc_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

// Writes text a person reads: masked (the token) and with control characters escaped.
void say(const secret_mask& mask, const std::string& text) {
  write_all(stdout, escape_control_chars(mask.apply(text)));
}

std::string dumped(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"; }

std::string counts(const nlohmann::json& doc) {
  const auto& b = doc.value("branches", nlohmann::json::object());
  auto n = [&](const char* key) { return std::to_string(b.value(key, int64_t{0})); };
  return n("succeeded") + "/" + n("failed") + "/" + n("timed_out") + "/" + n("cancelled");
}

int list(const node_client& client, const runs_flags& f, const secret_mask& mask) {
  std::string target = "/v1/runs?limit=" + std::to_string(f.limit);
  if (!f.status.empty()) target += "&status=" + f.status;
  auto page = client.call("GET", target);
  if (f.json) return say(mask, dumped(page)), 0;
  char line[512];
  std::snprintf(line, sizeof line, "%-30s %-12s %-20s %-24s %10s  %s\n", "ID", "STATUS", "CREATED (UTC)", "SCENARIO", "WALL MS",
                "BRANCHES ok/failed/timed out/cancelled");
  std::string text = line;
  for (const auto& r : page.value("runs", nlohmann::json::array())) {
    auto wall = r.value("summary", nlohmann::json::object()).value("wall_ms", int64_t{-1});
    std::snprintf(line, sizeof line, "%-30s %-12s %-20s %-24s %10s  %s\n", r.value("id", std::string()).c_str(),
                  r.value("status", std::string()).c_str(), utc_time(r.value("created_ms", int64_t{0})).c_str(),
                  r.value("scenario", std::string()).c_str(), wall < 0 ? "-" : std::to_string(wall).c_str(),
                  counts(r).c_str());
    text += line;
  }
  if (!page.value("next_after", nlohmann::json()).is_null()) text += "(more: --limit)\n";
  say(mask, text);
  return 0;
}

int get(const node_client& client, const runs_flags& f, const secret_mask& mask) {
  auto doc = client.call("GET", "/v1/runs/" + f.id);
  if (f.json) return say(mask, dumped(doc)), 0;
  auto status = doc.value("status", std::string());
  say(mask, "run " + f.id + " (" + doc.value("scenario", std::string()) + "): " + status + ", " +
                std::to_string(doc.value("events", int64_t{0})) + " events, created " +
                utc_time(doc.value("created_ms", int64_t{0})) + " UTC\n");
  if (status != "running") write_all(stdout, human_result(RunResult::from_json(doc), mask));
  return 0;
}

// Every event as one JSON line, as `cohort run --events` writes them, until the run
// ends or a stop signal comes.
int events(const node_client& client, const runs_flags& f, const secret_mask& mask) {
  stop_signals signals;  // before the reader's thread
  std::atomic<bool> stop{false};
  std::string why;
  node_client::stream_end end = node_client::stream_end::lost;
  std::exception_ptr failure;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    try {
      end = client.follow(
          f.id, f.after,
          [&](const nlohmann::json& e) { write_all(stdout, mask.apply(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "\n"); },
          stop, &why);
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  });
  while (!done)
    if (signals.wait_for(std::chrono::milliseconds(50)) != 0) stop = true;
  reader.join();
  if (failure) std::rethrow_exception(failure);
  if (end == node_client::stream_end::lost) throw node_error(0, "connection_lost", "lost the event stream: " + why);
  return 0;
}

}  // namespace

CLI::App* add_runs_command(CLI::App& app, runs_flags& f) {
  auto* runs = app.add_subcommand("runs", "a node's runs: list, get, cancel, delete, events (docs/node.md)");
  runs->require_subcommand(1);
  auto with_node = [&](CLI::App* sub) {
    sub->add_option("--node", f.node, "the node's URL (http://HOST:PORT); token from COHORT_TOKEN")->envname("COHORT_NODE");
    return sub;
  };
  auto* list_cmd = with_node(runs->add_subcommand("list", "the newest runs first"));
  list_cmd->add_option("--status", f.status, "only runs in this status (running, succeeded, failed, ...)");
  list_cmd->add_option("--limit", f.limit, "how many")->capture_default_str()->check(CLI::Range(1, 1000));
  list_cmd->add_flag("--json", f.json, "the node's JSON page");
  auto* get_cmd = with_node(runs->add_subcommand("get", "a run: its status, and its result once it ended"));
  get_cmd->add_option("ID", f.id, "run id")->required();
  get_cmd->add_flag("--json", f.json, "the node's JSON document");
  for (const char* name : {"cancel", "delete"})
    with_node(runs->add_subcommand(name, name == std::string("cancel") ? "cancel a running run" : "forget an ended run"))
        ->add_option("ID", f.id, "run id")
        ->required();
  auto* events_cmd = with_node(runs->add_subcommand("events", "a run's events as JSON lines, live until it ends"));
  events_cmd->add_option("ID", f.id, "run id")->required();
  events_cmd->add_option("--after", f.after, "only the events after this one (its \"seq\")")->check(CLI::NonNegativeNumber);
  return runs;
}

int cmd_runs(const CLI::App& runs, const runs_flags& f, const std::string& token) {
  if (f.node.empty()) {
    std::fprintf(stderr, "cohort runs: which node? give --node URL or set COHORT_NODE\n");
    return 2;
  }
  secret_mask mask(std::vector<std::string>{token});
  try {
    node_client client(f.node, token);
    auto used = [&](const char* name) { return runs.get_subcommand(name)->parsed(); };
    if (used("list")) return list(client, f, mask);
    if (used("get")) return get(client, f, mask);
    if (used("events")) return events(client, f, mask);
    if (used("cancel")) {
      auto answer = client.call("POST", "/v1/runs/" + f.id + "/cancel");
      say(mask, "run " + f.id + ": " + answer.value("status", std::string("cancelling")) + "\n");
    } else {
      client.call("DELETE", "/v1/runs/" + f.id);
      say(mask, "run " + f.id + ": deleted\n");
    }
    return 0;
  } catch (const node_error& e) {
    std::string text = "cohort runs: " + f.node + ": " + e.what() + (e.status() ? " (" + e.kind() + ", HTTP " + std::to_string(e.status()) + ")" : "") + "\n";
    std::fputs(escape_control_chars(mask.apply(text)).c_str(), stderr);
    return e.status() == 0 || e.status() >= 500 ? 2 : 1;
  } catch (const std::exception& e) {  // an unreadable answer
    std::fprintf(stderr, "cohort runs: %s\n", escape_control_chars(mask.apply(e.what())).c_str());
    return 2;
  }
}

}  // namespace cohort
