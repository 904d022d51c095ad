// The CLI as a node's client: `cohort run FILE --node URL` against a real `cohort serve`
// prints what a local run prints and exits the same way; Ctrl-C cancels the remote run;
// `cohort runs list|get|cancel|delete|events` and COHORT_NODE / COHORT_TOKEN.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

// An environment variable set for one test (the CLI children inherit it).
class scoped_env {
 public:
  scoped_env(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

std::string write_file(const std::string& dir, const std::string& name, const json& doc) {
  std::filesystem::create_directories(dir);
  auto path = dir + "/" + name;
  std::ofstream(path) << doc.dump(2);
  return path;
}

struct cli_outcome {
  int code = -1;
  std::string out;
  std::string err;
};

cli_outcome cohort_cli(std::vector<std::string> args, int timeout_ms = 30000) {
  args.insert(args.begin(), {COHORT_BINARY, "--log-level", "warn"});
  child_process p(args);
  cli_outcome o;
  o.out = p.read_all(timeout_ms);
  o.err = p.read_stderr(2000);
  o.code = p.wait(timeout_ms);
  return o;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) out.push_back(json::parse(line, nullptr, false));
  return out;
}

std::string only_run_id(int port) {
  for (int i = 0; i < 500; ++i) {
    auto page = json::parse(http_call(port, "GET", "/v1/runs").body, nullptr, false);
    if (page.is_object() && page["runs"].size() == 1) return page["runs"][0]["id"].get<std::string>();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

TEST(NodeCli, RunOnANodePrintsWhatALocalRunPrints) {
  node_process node(fresh_dir("cli-same"));
  auto dir = fresh_dir("cli-same-files");
  std::filesystem::create_directories(dir);
  auto file = std::string(COHORT_SOURCE_DIR) + "/examples/quickstart.json";
  auto local = cohort_cli({"run", file, "--json", "-q", "--events", dir + "/local.jsonl"});
  auto remote = cohort_cli({"run", file, "--json", "-q", "--events", dir + "/remote.jsonl", "--node", node.url()});
  ASSERT_EQ(local.code, 0) << local.err;
  ASSERT_EQ(remote.code, 0) << remote.err;
  auto a = json::parse(local.out), b = json::parse(remote.out);
  EXPECT_EQ(b["status"], "succeeded");
  EXPECT_EQ(a["output"], b["output"]);
  EXPECT_EQ(a["branches"], b["branches"]);
  EXPECT_EQ(a["usage"], b["usage"]);
  EXPECT_EQ(a["summary"]["tokens"], b["summary"]["tokens"]);
  EXPECT_EQ(a["summary"]["model_calls"], b["summary"]["model_calls"]);
  for (const char* key : {"status", "output", "summary", "branches", "usage"}) EXPECT_TRUE(b.contains(key)) << key;

  // The same events, one JSON object a line, in the same shape.
  std::ifstream la(dir + "/local.jsonl"), lb(dir + "/remote.jsonl");
  std::stringstream sa, sb;
  sa << la.rdbuf();
  sb << lb.rdbuf();
  auto ea = json_lines(sa.str()), eb = json_lines(sb.str());
  ASSERT_EQ(ea.size(), eb.size());
  std::multiset<std::string> ka, kb;
  for (auto& e : ea) ka.insert(e["kind"].get<std::string>() + " " + e["path"].get<std::string>());
  for (auto& e : eb) {
    EXPECT_FALSE(e.contains("seq")) << "the node's sequence numbers are not part of an event line";
    kb.insert(e["kind"].get<std::string>() + " " + e["path"].get<std::string>());
  }
  EXPECT_EQ(ka, kb);

  // For people: the same sections, and progress lines on stderr.
  auto human = cohort_cli({"run", file, "--node", node.url()});
  ASSERT_EQ(human.code, 0) << human.err;
  for (const char* text : {"== output (succeeded) ==", "Recommendation", "== summary ==", "branches         6 succeeded"})
    EXPECT_NE(human.out.find(text), std::string::npos) << text << "\n" << human.out;
  EXPECT_NE(human.err.find("ok  researcher workflow/research/researcher[0]"), std::string::npos) << human.err;
  EXPECT_NE(human.err.find("on " + node.url()), std::string::npos) << human.err;
}

TEST(NodeCli, ExitCodesAndRefusalsAreThoseOfALocalRun) {
  node_process node(fresh_dir("cli-codes"));
  auto dir = fresh_dir("cli-codes-files");
  auto late = slow_scenario(3000);
  late["timeout_ms"] = 200;
  auto late_file = write_file(dir, "late.json", late);
  auto local = cohort_cli({"run", late_file, "-q"});
  auto remote = cohort_cli({"run", late_file, "-q", "--node", node.url()});
  EXPECT_EQ(local.code, 1) << local.err;
  EXPECT_EQ(remote.code, 1) << remote.err;
  EXPECT_NE(remote.out.find("== output (timed_out) =="), std::string::npos) << remote.out;

  auto bad = slow_scenario(0);
  bad["workflow"] = {{"agent", "nobody"}};
  bad["models"]["m"]["latency_ms"] = -5;
  auto bad_file = write_file(dir, "bad.json", bad);
  auto refused = cohort_cli({"run", bad_file, "--node", node.url()});
  EXPECT_EQ(refused.code, 2);
  // The same problems `cohort validate` reports.
  auto validated = cohort_cli({"validate", bad_file});
  EXPECT_EQ(validated.code, 2);
  EXPECT_NE(validated.err.find("$.models.m.latency_ms"), std::string::npos) << validated.err;
  EXPECT_NE(refused.err.find(bad_file + ": $.models.m.latency_ms"), std::string::npos) << refused.err;

  // Nobody listens there: a clear error, not a hang.
  auto unreachable = cohort_cli({"run", late_file, "--node", "http://127.0.0.1:1"});
  EXPECT_EQ(unreachable.code, 2);
  EXPECT_NE(unreachable.err.find("http://127.0.0.1:1"), std::string::npos) << unreachable.err;
  auto not_a_url = cohort_cli({"run", late_file, "--node", "ftp://x"});
  EXPECT_EQ(not_a_url.code, 2);
  EXPECT_NE(not_a_url.err.find("--node"), std::string::npos) << not_a_url.err;
}

TEST(NodeCli, InterruptingARemoteRunCancelsItOnTheNode) {
  node_process node(fresh_dir("cli-cancel"));
  auto dir = fresh_dir("cli-cancel-files");
  auto file = write_file(dir, "slow.json", slow_scenario(30000));
  child_process cli({COHORT_BINARY, "--log-level", "warn", "run", file, "--node", node.url()});
  auto id = only_run_id(node.port());
  ASSERT_FALSE(id.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its event stream is open
  auto started = std::chrono::steady_clock::now();
  cli.signal(SIGINT);
  auto out = cli.read_all(15000);
  EXPECT_EQ(cli.wait(15000), 130);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_NE(out.find("== output (cancelled) =="), std::string::npos) << out;
  auto doc = json::parse(http_call(node.port(), "GET", "/v1/runs/" + id).body);
  EXPECT_EQ(doc["status"], "cancelled");
}

TEST(NodeCli, RunsCommandsWithTheTokenFromTheEnvironment) {
  const std::string token = "cli-test-token-0123456789";
  scoped_env node_token("COHORT_TEST_NODE_TOKEN", token);
  node_process node(fresh_dir("cli-runs"), {"--token-env", "COHORT_TEST_NODE_TOKEN"});
  scoped_env default_node("COHORT_NODE", node.url());

  // No token: the node refuses, the CLI says so (exit 1) and prints no secret.
  auto refused = cohort_cli({"runs", "list"});
  EXPECT_EQ(refused.code, 1) << refused.err;
  EXPECT_NE(refused.err.find("HTTP 401"), std::string::npos) << refused.err;

  scoped_env client_token("COHORT_TOKEN", token);
  auto dir = fresh_dir("cli-runs-files");
  auto file = write_file(dir, "quick.json", slow_scenario(10));
  auto ran = cohort_cli({"run", file, "--json", "-q"});  // COHORT_NODE: on the node
  ASSERT_EQ(ran.code, 0) << ran.err;

  auto list = cohort_cli({"runs", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("succeeded"), std::string::npos) << list.out;
  auto page = json::parse(cohort_cli({"runs", "list", "--json"}).out);
  ASSERT_EQ(page["runs"].size(), 1u);
  auto id = page["runs"][0]["id"].get<std::string>();

  auto got = cohort_cli({"runs", "get", id});
  ASSERT_EQ(got.code, 0) << got.err;
  EXPECT_NE(got.out.find("run " + id + " (slow): succeeded"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("== summary =="), std::string::npos) << got.out;

  auto events = cohort_cli({"runs", "events", id});
  ASSERT_EQ(events.code, 0) << events.err;
  auto lines = json_lines(events.out);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.front()["kind"], "started");
  EXPECT_EQ(lines.back()["kind"], "result");
  auto resumed = json_lines(cohort_cli({"runs", "events", id, "--after", "1"}).out);
  EXPECT_EQ(resumed.size(), lines.size() - 1);

  auto cancel_ended = cohort_cli({"runs", "cancel", id});
  EXPECT_EQ(cancel_ended.code, 1);
  EXPECT_NE(cancel_ended.err.find("already ended"), std::string::npos) << cancel_ended.err;
  EXPECT_EQ(cohort_cli({"runs", "delete", id}).code, 0);
  auto gone = cohort_cli({"runs", "get", id});
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("HTTP 404"), std::string::npos) << gone.err;

  for (const auto* o : {&refused, &ran, &list, &got, &events, &cancel_ended, &gone}) {
    EXPECT_EQ(o->out.find(token), std::string::npos);
    EXPECT_EQ(o->err.find(token), std::string::npos);
  }

  // --local runs here even with COHORT_NODE set.
  auto here = cohort_cli({"run", file, "--local"});
  EXPECT_EQ(here.code, 0) << here.err;
  EXPECT_EQ(here.err.find(node.url()), std::string::npos) << here.err;
}

}  // namespace
}  // namespace cohort::testing
