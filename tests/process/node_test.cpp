// `cohort serve` as a real process on 127.0.0.1, talked to over real HTTP: submit,
// watch (SSE), fetch, cancel, limits, the token, and a store that survives SIGKILL.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
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

// The SSE events of a stream, as (id, parsed data).
std::vector<std::pair<int64_t, json>> sse_events(const std::string& raw) {
  std::vector<std::pair<int64_t, json>> out;
  size_t at = raw.find("\r\n\r\n");
  if (at == std::string::npos) return out;
  std::string body = raw.substr(at + 4);
  size_t pos = 0;
  while (true) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    auto block = body.substr(pos, end - pos);
    pos = end + 2;
    int64_t id = -1;
    json data;
    std::stringstream lines(block);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("id: ", 0) == 0) id = std::stoll(line.substr(4));
      if (line.rfind("data: ", 0) == 0) data = json::parse(line.substr(6), nullptr, false);
    }
    out.emplace_back(id, data);
  }
  return out;
}

TEST(Node, SubmitWatchAndFetchTheQuickstart) {
  node_process node(fresh_dir("quickstart"));
  auto created = submit(node.port(), {{"scenario", scenario_file("quickstart.json")}});
  ASSERT_TRUE(created.contains("id")) << created;
  auto id = created["id"].get<std::string>();
  EXPECT_EQ(created["status"], "running");
  EXPECT_EQ(created["links"]["events"], "/v1/runs/" + id + "/events");

  auto events = sse_events(http_stream(node.port(), "/v1/runs/" + id + "/events"));
  ASSERT_GE(events.size(), 3u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].first, static_cast<int64_t>(i + 1));
  const auto& last = events.back().second;
  EXPECT_EQ(last["kind"], "result");
  EXPECT_EQ(last["result"]["status"], "succeeded");

  auto doc = wait_finished(node.port(), id);
  EXPECT_EQ(doc["status"], "succeeded");
  EXPECT_NE(doc["output"].get<std::string>().find("Recommendation"), std::string::npos);
  EXPECT_EQ(doc["branches"]["succeeded"], 6);
  EXPECT_EQ(doc["events"], static_cast<int64_t>(events.size()));

  auto list = json::parse(http_call(node.port(), "GET", "/v1/runs?limit=10").body);
  ASSERT_EQ(list["runs"].size(), 1u);
  EXPECT_EQ(list["runs"][0]["id"], id);
  EXPECT_EQ(http_call(node.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_call(node.port(), "GET", "/readyz").status, 200);
}

TEST(Node, ABadScenarioIsRefusedWithEveryProblemAndItsPath) {
  node_process node(fresh_dir("bad"));
  auto doc = slow_scenario(0);
  doc["workflow"] = {{"type", "pipeline"}, {"steps", {{{"agent", "nobody"}}}}};
  doc["models"]["m"]["latency_ms"] = -5;
  auto r = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", doc}}.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  auto err = json::parse(r.body)["error"];
  EXPECT_EQ(err["kind"], "invalid_scenario");
  std::string paths;
  for (auto& p : err["problems"]) paths += p["path"].get<std::string>() + " ";
  EXPECT_NE(paths.find("$.models.m.latency_ms"), std::string::npos) << r.body;

  auto not_json = http_call(node.port(), "POST", "/v1/runs", "{\"scenario\": ");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(json::parse(not_json.body)["error"]["kind"], "invalid_json");
  EXPECT_EQ(http_call(node.port(), "GET", "/v1/nothing").status, 404);
  EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs/run-unknown").status, 404);
}

TEST(Node, ASubmittedScenarioCannotReadTheNodesSecretsOrFiles) {
  node_process node(fresh_dir("policy"), {"--allowed-key-env", "TEAM_KEY"});
  auto doc = slow_scenario(0);
  doc["models"]["m"] = {{"provider", "openai"}, {"base_url", "http://127.0.0.1:9/v1"},
                        {"api_key_env", "HOME"}, {"ca_file", "/etc/passwd"}};
  auto r = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", doc}}.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  auto err = json::parse(r.body)["error"];
  EXPECT_EQ(err["kind"], "forbidden_scenario");
  ASSERT_EQ(err["problems"].size(), 2u) << r.body;
  EXPECT_EQ(err["problems"][0]["path"], "$.models.m.api_key_env");
  EXPECT_EQ(err["problems"][1]["path"], "$.models.m.ca_file");

  // Nor start a command of its choosing as an MCP server.
  doc = slow_scenario(0);
  doc["mcp_servers"] = {{"sh", {{"command", "sh"}, {"args", {"-c", "touch /tmp/cohort-pwned"}}}}};
  r = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", doc}}.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  err = json::parse(r.body)["error"];
  EXPECT_EQ(err["kind"], "forbidden_scenario");
  EXPECT_EQ(err["problems"][0]["path"], "$.mcp_servers.sh.command") << r.body;
}

TEST(Node, TheSameIdempotencyKeyGivesTheSameRun) {
  node_process node(fresh_dir("idem"));
  json body{{"scenario", slow_scenario(50)}, {"idempotency_key", "order-42"}};
  auto first = submit(node.port(), body, 201);
  auto second = submit(node.port(), body, 200);
  EXPECT_EQ(first["id"], second["id"]);
  auto list = json::parse(http_call(node.port(), "GET", "/v1/runs").body);
  EXPECT_EQ(list["runs"].size(), 1u);
}

TEST(Node, EveryRouteButHealthzNeedsTheToken) {
  ::setenv("COHORT_TEST_NODE_TOKEN", "s3cret-token-value", 1);
  node_process node(fresh_dir("token"), {"--token-env", "COHORT_TEST_NODE_TOKEN"});
  EXPECT_EQ(http_call(node.port(), "GET", "/healthz").status, 200);
  auto none = http_call(node.port(), "GET", "/v1/runs");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body)["error"]["problems"][0]["path"], "header Authorization");
  EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(http_call(node.port(), "GET", "/v1/runs", "", {{"Authorization", "Bearer s3cret-token-value"}}).status, 200);
  node.process().terminate();
  EXPECT_EQ(node.process().read_stderr(2000).find("s3cret-token-value"), std::string::npos);
}

TEST(Node, ANonLoopbackBindWithoutATokenIsRefused) {
  child_process p({COHORT_BINARY, "serve", "--bind", "0.0.0.0", "--port", "0", "--data", fresh_dir("open")});
  EXPECT_EQ(p.wait(10000), 2);
  EXPECT_NE(p.read_stderr(1000).find("--token-env"), std::string::npos);
}

TEST(Node, BodiesOverTheLimitGet413AndRunsOverMaxRuns429) {
  node_process node(fresh_dir("limits"), {"--max-body-bytes", "2000", "--max-runs", "1"});
  auto big = json{{"scenario", slow_scenario(0)}, {"input", std::string(5000, 'x')}};
  auto r = http_call(node.port(), "POST", "/v1/runs", big.dump());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body, nullptr, false)["error"]["kind"], "body_too_large");

  auto running = submit(node.port(), {{"scenario", slow_scenario(1500)}});
  auto refused = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", slow_scenario(0)}}.dump());
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(wait_finished(node.port(), running["id"])["status"], "succeeded");
  submit(node.port(), {{"scenario", slow_scenario(0)}}, 201);  // room again
}

TEST(Node, CancelStopsAThousandHttpBranchesAndClosesTheirConnections) {
  mock_llm_process mock({"--latency-ms", "3000"});
  node_process node(fresh_dir("cancel"));
  auto doc = json::parse(R"({"name": "wide", "models": {"m": {"provider": "openai", "max_in_flight": 2000}},
    "agents": {"a": {"type": "llm", "model": "m", "prompt": "item {{item}}"}},
    "workflow": {"type": "fan_out", "over": "input.items", "agent": "a"}})");
  doc["models"]["m"]["base_url"] = mock.base_url();
  std::vector<int> items(1000);
  for (int i = 0; i < 1000; ++i) items[i] = i;
  doc["input"] = {{"items", items}};
  auto id = submit(node.port(), {{"scenario", doc}})["id"].get<std::string>();
  wait_stats(mock.port(), [](const json& s) { return s.value("in_flight", 0) >= 1000; }, 10000);
  auto c = http_call(node.port(), "POST", "/v1/runs/" + id + "/cancel");
  EXPECT_EQ(c.status, 202) << c.body;
  auto doc_after = wait_finished(node.port(), id, 10000);
  EXPECT_EQ(doc_after["status"], "cancelled");
  EXPECT_EQ(doc_after["branches"]["cancelled"], 1000);
  auto stats = wait_stats(mock.port(), [](const json& s) { return s.value("in_flight", 1) == 0; }, 5000);
  EXPECT_EQ(stats["in_flight"], 0);
  EXPECT_EQ(http_call(node.port(), "POST", "/v1/runs/" + id + "/cancel").status, 409);
}

TEST(Node, AWatcherResumesAfterLastEventIdWithoutGapOrDuplicate) {
  node_process node(fresh_dir("resume"));
  auto id = submit(node.port(), {{"scenario", scenario_file("quickstart.json")}})["id"].get<std::string>();
  ASSERT_EQ(wait_finished(node.port(), id)["status"], "succeeded");
  auto all = sse_events(http_stream(node.port(), "/v1/runs/" + id + "/events"));
  ASSERT_GE(all.size(), 5u);
  auto rest = sse_events(http_stream(node.port(), "/v1/runs/" + id + "/events", {{"Last-Event-ID", "3"}}));
  ASSERT_EQ(rest.size(), all.size() - 3);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].first, all[i + 3].first);
    EXPECT_EQ(rest[i].second, all[i + 3].second);
  }
}

TEST(Node, AfterSigkillFinishedRunsStayAndTheRunningOneIsInterrupted) {
  auto data = fresh_dir("kill");
  std::string done_id, cut_id;
  json done_doc;
  {
    node_process node(data);
    done_id = submit(node.port(), {{"scenario", scenario_file("quickstart.json")}})["id"].get<std::string>();
    done_doc = wait_finished(node.port(), done_id);
    ASSERT_EQ(done_doc["status"], "succeeded");
    auto wide = scenario_file("quickstart.json");
    wide["models"]["fast"]["latency_ms"] = 20000;
    cut_id = submit(node.port(), {{"scenario", wide}})["id"].get<std::string>();
    // Its first events are on disk before the kill.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    node.process().signal(SIGKILL);
    node.process().wait(5000);
  }
  node_process again(data);
  auto kept = json::parse(http_call(again.port(), "GET", "/v1/runs/" + done_id).body);
  EXPECT_EQ(kept["status"], "succeeded");
  EXPECT_EQ(kept["output"], done_doc["output"]);
  EXPECT_EQ(kept["summary"], done_doc["summary"]);
  auto cut = json::parse(http_call(again.port(), "GET", "/v1/runs/" + cut_id).body);
  EXPECT_EQ(cut["status"], "interrupted");
  EXPECT_EQ(cut["error"]["kind"], "interrupted");
  auto events = sse_events(http_stream(again.port(), "/v1/runs/" + done_id + "/events"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().second["kind"], "result");
  // The result is kept once on disk (the run's row) and put back into its event.
  EXPECT_EQ(events.back().second["result"]["output"], done_doc["output"]);
  EXPECT_EQ(events.back().second["result"]["status"], "succeeded");
}

TEST(Node, SigtermLetsRunningRunsFinishThenExits) {
  auto data = fresh_dir("drain");
  std::string id;
  {
    node_process node(data);
    id = submit(node.port(), {{"scenario", slow_scenario(800)}})["id"].get<std::string>();
    node.process().signal(SIGTERM);
    EXPECT_EQ(node.process().wait(15000), 0);
  }
  node_process again(data);
  EXPECT_EQ(json::parse(http_call(again.port(), "GET", "/v1/runs/" + id).body)["status"], "succeeded");
}

// The text exposition, checked line by line: "# HELP", "# TYPE", or a sample.
std::map<std::string, double> parse_metrics(const std::string& text) {
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$)");
  std::map<std::string, double> out;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, sample)) << "not a sample: " << line;
    if (!m.empty()) out[m[1]] = std::stod(m[m.size() - 1]);
  }
  return out;
}

TEST(Node, MetricsParseAndCountTheRunsMade) {
  node_process node(fresh_dir("metrics"));
  auto id = submit(node.port(), {{"scenario", scenario_file("quickstart.json")}})["id"].get<std::string>();
  ASSERT_EQ(wait_finished(node.port(), id)["status"], "succeeded");
  http_call(node.port(), "GET", "/v1/runs/run-none");  // one 404
  auto r = http_call(node.port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"].rfind("text/plain", 0), 0u);
  auto m = parse_metrics(r.body);
  EXPECT_EQ(m["cohort_runs_total{status=\"succeeded\"}"], 1);
  EXPECT_EQ(m["cohort_branches_total{state=\"succeeded\"}"], 6);
  EXPECT_EQ(m["cohort_model_calls_total{model=\"fast\"}"], 6);
  EXPECT_GT(m["cohort_tokens_total{kind=\"prompt\",model=\"fast\"}"], 0);
  EXPECT_GT(m["cohort_cost_total{model=\"fast\"}"], 0);
  EXPECT_EQ(m["cohort_agent_call_seconds_count{model=\"fast\"}"], 6);
  EXPECT_EQ(m["cohort_runs_in_flight"], 0);
  EXPECT_EQ(m["cohort_http_requests_total{route=\"/v1/runs\",status=\"201\"}"], 1);
  EXPECT_EQ(m["cohort_http_requests_total{route=\"/v1/runs/{id}\",status=\"404\"}"], 1);
  EXPECT_GE(m["cohort_http_request_seconds_count{route=\"/v1/runs/{id}\"}"], 2);
}

}  // namespace
}  // namespace cohort::testing
