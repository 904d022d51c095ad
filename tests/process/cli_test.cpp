// `cohort run` and `cohort mock-llm` as real processes talking over 127.0.0.1.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using cohort::testing::child_process;
using cohort::testing::http_get;
using cohort::testing::mock_llm_process;
using cohort::testing::wait_stats;
using nlohmann::json;

namespace {

// A file of this test process's own (ctest runs the cases as parallel processes, and two
// checkouts may test on one machine at once).
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/cli-" + std::to_string(::getpid()) + "-" + name;
}

std::string write_temp(const std::string& name, const json& doc) {
  auto path = temp_path(name);
  std::ofstream(path) << doc.dump(2);
  return path;
}

json http_scenario(const std::string& base_url, json agent_params = json::object(), int request_timeout_ms = 5000) {
  return {{"name", "cli"},
          {"models", {{"mock", {{"provider", "openai"}, {"base_url", base_url}, {"model", "mock-1"},
                                {"request_timeout_ms", request_timeout_ms}}}}},
          {"agents", {{"researcher", {{"model", "mock"}, {"prompt", "List the frameworks for {{item}}."},
                                      {"params", agent_params}}},
                      {"analyst", {{"model", "mock"}, {"prompt", "Compare: {{results}}"}}}}},
          {"workflow", {{"type", "pipeline"}, {"steps", {
              {{"type", "fan_out"}, {"over", "input.langs"}, {"agent", "researcher"}, {"aggregate", "join"}},
              {{"agent", "analyst"}}}}}},
          {"input", {{"langs", {"Python", "Rust", "Go"}}}}};
}

struct run_output {
  int exit_code;
  json doc;
  std::string err;
};

run_output run_cohort(const std::string& scenario_path, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{COHORT_BINARY, "run", scenario_path, "--json", "-q"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  child_process p(argv);
  auto out = p.read_all(30000);
  auto code = p.wait(5000);
  auto err = p.read_stderr(100);
  auto doc = json::parse(out, nullptr, false);
  return {code, doc, err};
}

}  // namespace

TEST(Cli, RunAgainstMockServerReturnsTheScriptedText) {
  auto rules = write_temp("rules.json", json::array({
      {{"match", "frameworks for (\\w+)"}, {"reply", "{{1}} has frameworks"}},
      {{"match", "^Compare: ([\\s\\S]*)"}, {"reply", "verdict on [{{1}}]"}}}));
  mock_llm_process mock({"--latency-ms", "10-30", "--rules", rules});
  auto path = write_temp("http.json", http_scenario(mock.base_url()));
  auto r = run_cohort(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.doc.is_discarded()) << "stdout is not one JSON document";
  EXPECT_EQ(r.doc["status"], "succeeded");
  EXPECT_EQ(r.doc["output"], "verdict on [Python has frameworks\n\nRust has frameworks\n\nGo has frameworks]");
  EXPECT_EQ(r.doc["summary"]["model_calls"], 4);
  EXPECT_GT(r.doc["summary"]["tokens"].get<int>(), 0);
  EXPECT_EQ(r.doc["branches"]["succeeded"], 4);
  for (auto key : {"wall_ms", "agent_ms_total", "speedup"}) EXPECT_TRUE(r.doc["summary"].contains(key)) << key;
  auto s = wait_stats(mock.port(), [](const json& s) { return s["open_connections"] == 0; });
  EXPECT_EQ(s["requests"], 4);
  EXPECT_EQ(s["open_connections"], 0) << "connections left open after the run";
}

TEST(Cli, EachInjectedFaultGivesItsPreciseError) {
  mock_llm_process mock({"--retry-after", "7"});
  struct expectation {
    std::string fault, kind, text;
  };
  for (const auto& e : std::vector<expectation>{
           {"429", "rate_limited", "HTTP 429 from http://127.0.0.1:"},
           {"500", "server_error", "HTTP 500 from"},
           {"malformed", "malformed_response", "malformed JSON in the response"},
           {"drop", "connection_reset", "closed the connection before any response"},
           {"hang", "timeout", "within 400 ms"}}) {
    SCOPED_TRACE(e.fault);
    auto path = write_temp("fault.json", http_scenario(mock.base_url(), {{"mock_fault", e.fault}}, 400));
    auto r = run_cohort(path);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    ASSERT_FALSE(r.doc.is_discarded());
    EXPECT_NE(r.doc["status"], "succeeded");
    EXPECT_EQ(r.doc["error"]["kind"], e.kind) << r.doc.dump();
    auto msg = r.doc["error"]["message"].get<std::string>();
    EXPECT_NE(msg.find(e.text), std::string::npos) << msg;
    EXPECT_NE(msg.find("researcher["), std::string::npos) << "the branch is named: " << msg;
    if (e.fault == "429") {
      EXPECT_NE(msg.find("Retry-After: 7"), std::string::npos) << msg;
    }
  }
}

TEST(Cli, ConnectionRefusedIsNamed) {
  int port;
  {
    mock_llm_process mock;  // take a free port, then close it
    port = mock.port();
  }
  auto path = write_temp("refused.json", http_scenario("http://127.0.0.1:" + std::to_string(port) + "/v1"));
  auto r = run_cohort(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.doc["error"]["kind"], "connection_refused") << r.doc.dump();
  EXPECT_NE(r.doc["error"]["message"].get<std::string>().find("connection refused by 127.0.0.1:" + std::to_string(port)),
            std::string::npos);
}

// Ctrl-C in the middle of 1,000 HTTP branches, all in flight at the server.
TEST(Cli, SigintCancelsAndLeavesNoOpenConnection) {
  mock_llm_process mock({"--latency-ms", "20000", "--threads", "2"});
  auto doc = http_scenario(mock.base_url(), json::object(), 60000);
  doc["models"]["mock"]["max_in_flight"] = 1000;
  json langs = json::array();
  for (int i = 0; i < 1000; ++i) langs.push_back("L" + std::to_string(i));
  doc["input"]["langs"] = langs;
  auto path = write_temp("cancel.json", doc);
  child_process p({COHORT_BINARY, "run", path, "--json", "-q"});
  auto s = wait_stats(mock.port(), [](const json& s) { return s["in_flight"] == 1000; });
  ASSERT_EQ(s["in_flight"], 1000) << s.dump();
  auto sent = std::chrono::steady_clock::now();
  p.signal(SIGINT);
  auto code = p.wait(3000);
  auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_EQ(code, 130);
  EXPECT_LT(took, std::chrono::seconds(1));
  auto out = json::parse(p.read_all(1000), nullptr, false);
  EXPECT_EQ(out["status"], "cancelled");
  EXPECT_EQ(out["branches"]["cancelled"].get<int>(), 1001);  // 1,000 in flight + the analyst never started
  s = wait_stats(mock.port(), [](const json& s) { return s["open_connections"] == 0; });
  EXPECT_EQ(s["open_connections"], 0) << s.dump();
  EXPECT_EQ(s["client_cancellations"], 1000) << s.dump();
}

TEST(Cli, InvalidScenarioNamesFileAndPath) {
  auto doc = http_scenario("http://127.0.0.1:9/v1");
  doc["workflow"]["steps"][1]["agent"] = "analyzt";
  auto path = write_temp("invalid.json", doc);
  child_process p({COHORT_BINARY, "run", path});
  EXPECT_EQ(p.wait(10000), 2);
  auto err = p.read_stderr(1000);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("$.workflow.steps[1].agent: unknown agent \"analyzt\""), std::string::npos) << err;
}

TEST(Cli, QuickstartRunsOnTheSimulatedModel) {
  auto r = run_cohort(std::string(COHORT_SOURCE_DIR) + "/examples/quickstart.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.doc["status"], "succeeded");
  EXPECT_NE(r.doc["output"].get<std::string>().find("Comparison"), std::string::npos);
  EXPECT_EQ(r.doc["summary"]["model_calls"], 6);
  EXPECT_GT(r.doc["summary"]["speedup"].get<double>(), 1.5);
  // Its model's price: 0.15 per million prompt tokens, 0.60 per million completion tokens.
  const auto& s = r.doc["summary"];
  EXPECT_GT(s["prompt_tokens"].get<double>(), 0);
  EXPECT_NEAR(s["cost"].get<double>(),
              (s["prompt_tokens"].get<double>() * 0.15 + s["completion_tokens"].get<double>() * 0.60) / 1e6, 1e-12);
  EXPECT_EQ(r.doc["usage"]["agents"]["researcher"]["model_calls"], 5) << r.doc["usage"].dump();
}

TEST(Cli, InputOverrideAndBadInput) {
  auto quickstart = std::string(COHORT_SOURCE_DIR) + "/examples/quickstart.json";
  auto r = run_cohort(quickstart, {"--input", R"({"languages": ["Go"]})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.doc["summary"]["model_calls"], 2);
  auto bad = run_cohort(quickstart, {"--input", R"({"languages": "Go"})"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("must be an array"), std::string::npos) << bad.err;
}

TEST(Cli, QuickstartHttpRunsAgainstTheMockServer) {
  mock_llm_process mock({"--latency-ms", "5-20"});
  std::ifstream in(std::string(COHORT_SOURCE_DIR) + "/examples/quickstart-http.json");
  auto doc = json::parse(in);
  doc["models"]["local"]["base_url"] = mock.base_url();  // the example names port 8080
  auto r = run_cohort(write_temp("quickstart-http.json", doc));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.doc["status"], "succeeded");
  EXPECT_EQ(r.doc["summary"]["model_calls"], 6);
  EXPECT_EQ(cohort::testing::mock_stats(mock.port())["requests"], 6);
}

// An API key goes to the server and nowhere else: not in the output, the errors, the
// events or the most verbose log, also when calls fail.
TEST(Cli, ApiKeyReachesTheServerAndNeverTheOutputOrLogs) {
  const std::string key = "sk-cohort-test-7f3a9c1e5b";
  ::setenv("COHORT_TEST_API_KEY", key.c_str(), 1);
  mock_llm_process mock({"--fault-rate", "0.5", "--faults", "429,500,malformed", "--seed", "3"});
  auto doc = http_scenario(mock.base_url());
  doc["models"]["mock"]["api_key_env"] = "COHORT_TEST_API_KEY";
  auto path = write_temp("keyed.json", doc);
  std::vector<std::string> argv{COHORT_BINARY, "--log-level", "trace", "run", path, "--json"};
  child_process p(argv);
  auto out = p.read_all(30000);
  p.wait(5000);
  auto err = p.read_stderr(100);
  ::unsetenv("COHORT_TEST_API_KEY");
  auto s = json::parse(cohort::testing::http_get(mock.port(), "/stats"));
  ASSERT_GT(s["requests"].get<int>(), 0) << out << err;
  EXPECT_EQ(s["bearer_requests"], s["requests"]) << "the key was not sent with every call";
  int faults = 0;
  for (auto& [name, n] : s["faults"].items()) faults += n.get<int>();
  EXPECT_GT(faults, 0) << "no call failed: the error paths were not exercised";
  EXPECT_EQ(out.find(key), std::string::npos) << out;
  EXPECT_EQ(err.find(key), std::string::npos) << err;
  EXPECT_EQ(out.find(key.substr(3, 12)), std::string::npos);  // not even a part of it
  EXPECT_EQ(err.find(key.substr(3, 12)), std::string::npos);
}

// `cohort run --events FILE`: every event as a JSON line; a streaming model's pieces
// arrive as token events before their agent's finished event, and add up to its answer.
TEST(Cli, EventsFileCarriesStreamedTokens) {
  mock_llm_process mock({"--latency-ms", "20"});
  json doc{{"models", {{"mock", {{"provider", "openai"}, {"base_url", mock.base_url()}, {"stream", true}}}}},
           {"agents", {{"a", {{"model", "mock"}, {"prompt", "Describe {{item}} in a few words."}}}}},
           {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}}},
           {"input", {{"xs", {"tides", "dunes", "fjords"}}}}};
  auto events_path = temp_path("events.jsonl");
  auto r = run_cohort(write_temp("streamed.json", doc), {"--events", events_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.doc["output"].size(), 3u) << r.doc.dump();

  std::ifstream in(events_path);
  std::map<std::string, std::string> streamed;  // leaf path -> text so far
  std::set<std::string> finished;
  int tokens = 0;
  for (std::string line; std::getline(in, line);) {
    auto e = json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << "not a JSON line: " << line;
    auto path = e["path"].get<std::string>();
    if (e["kind"] == "token") {
      EXPECT_FALSE(finished.count(path)) << "a token after its agent finished: " << line;
      streamed[path] += e["text"].get<std::string>();
      ++tokens;
    } else if (e["kind"] == "finished" && e["leaf"] == true) {
      finished.insert(path);
    }
  }
  EXPECT_EQ(finished.size(), 3u);
  EXPECT_GT(tokens, 3) << "answers came in one piece each: nothing was streamed";
  for (size_t i = 0; i < 3; ++i) {
    auto suffix = "[" + std::to_string(i) + "]";
    auto it = std::find_if(streamed.begin(), streamed.end(), [&](const auto& kv) {
      return kv.first.size() > suffix.size() && kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
    ASSERT_NE(it, streamed.end()) << "no tokens for branch " << i;
    EXPECT_EQ(it->second, r.doc["output"][i].get<std::string>()) << it->first;
  }
}

TEST(Cli, EventsFileThatCannotBeWrittenIsAClearError) {
  auto r = run_cohort(std::string(COHORT_SOURCE_DIR) + "/examples/quickstart.json",
                      {"--events", "/nonexistent-dir/events.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--events: cannot write \"/nonexistent-dir/events.jsonl\""), std::string::npos) << r.err;
}
