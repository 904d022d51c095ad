// The node's OpenAI-compatible router with real processes on 127.0.0.1: `cohort serve
// --models FILE` in front of three `cohort mock-llm` servers. Routing by model, one
// workflow on one endpoint, failover when a server is killed, streaming in OpenAI's
// chunk shape, usage per workflow in /metrics, and refusals in OpenAI's error shape.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
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

// Three mock servers, and a node whose model "fast" spreads over them.
class Router : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) mocks_.push_back(std::make_unique<mock_llm_process>());
    json endpoints = json::array();
    for (auto& m : mocks_) endpoints.push_back({{"base_url", m->base_url()}});
    auto dir = fresh_dir("router");
    std::filesystem::create_directories(dir);
    models_file_ = dir + "/models.json";
    std::ofstream(models_file_) << json{{"models",
                                         {{"fast",
                                           {{"provider", "openai"},
                                            {"stream", true},
                                            {"endpoints", endpoints},
                                            {"price", {{"prompt_per_million", 1e6}, {"completion_per_million", 0}}}}},
                                          {"local", {{"provider", "sim"}, {"latency_ms", 1}}},
                                          {"slow", {{"provider", "sim"}, {"latency_ms", 400}}}}}};
    node_ = std::make_unique<node_process>(dir + "/data", std::vector<std::string>{"--models", models_file_});
  }

  http_answer chat(const json& body, const std::string& workflow = "", int timeout_ms = 10000) {
    std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
    if (!workflow.empty()) headers.emplace_back("X-Workflow-Id", workflow);
    return http_call(node_->port(), "POST", "/v1/chat/completions", body.dump(), headers, timeout_ms);
  }

  static json ask(const std::string& text) {
    return {{"model", "fast"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  }

  // Which mock each workflow's calls reached (X-Workflow-Id as the mocks counted it).
  std::map<std::string, std::set<size_t>> where_workflows_went() {
    std::map<std::string, std::set<size_t>> where;
    for (size_t i = 0; i < mocks_.size(); ++i) {
      if (!mocks_[i]) continue;
      auto stats = mock_stats(mocks_[i]->port());
      auto headers = stats.value("extra_headers", json::object());
      for (auto& [header, n] : headers.items())
        if (header.rfind("X-Workflow-Id: ", 0) == 0) where[header.substr(15)].insert(i);
    }
    return where;
  }

  std::vector<std::unique_ptr<mock_llm_process>> mocks_;
  std::string models_file_;
  std::unique_ptr<node_process> node_;
};

TEST_F(Router, AnswersInOpenAIsShapeAndListsItsModels) {
  auto models = json::parse(http_call(node_->port(), "GET", "/v1/models").body);
  EXPECT_EQ(models["object"], "list");
  std::set<std::string> ids;
  for (auto& m : models["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"fast", "local", "slow"}));

  auto a = chat(ask("What is a mailbox?"), "wf-shape");
  ASSERT_EQ(a.status, 200) << a.body;
  auto doc = json::parse(a.body);
  EXPECT_EQ(doc["object"], "chat.completion");
  EXPECT_EQ(doc["model"], "fast");
  EXPECT_EQ(doc["choices"][0]["message"]["role"], "assistant");
  EXPECT_NE(doc["choices"][0]["message"]["content"].get<std::string>().find("mailbox"), std::string::npos) << doc;
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
  EXPECT_GT(doc["usage"]["completion_tokens"].get<int>(), 0);

  auto sim = chat({{"model", "local"}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}});
  ASSERT_EQ(sim.status, 200) << sim.body;
  EXPECT_NE(json::parse(sim.body)["choices"][0]["message"]["content"].get<std::string>().find("hello"),
            std::string::npos)
      << sim.body;
}

TEST_F(Router, KeepsEachWorkflowOnOneEndpointAndSpreadsWorkflows) {
  for (int round = 0; round < 3; ++round)
    for (int w = 0; w < 6; ++w)
      ASSERT_EQ(chat(ask("step " + std::to_string(round)), "wf-" + std::to_string(w)).status, 200);
  auto where = where_workflows_went();
  ASSERT_EQ(where.size(), 6u);
  std::set<size_t> used;
  for (auto& [workflow, mocks] : where) {
    EXPECT_EQ(mocks.size(), 1u) << workflow << " was split over endpoints";
    used.insert(mocks.begin(), mocks.end());
  }
  EXPECT_EQ(used.size(), 3u) << "new workflows go to the least loaded endpoint, in turn";

  // Usage and cost per workflow and per model (a prompt token costs 1 here).
  auto metrics = http_call(node_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("cohort_router_requests_total{model=\"fast\",outcome=\"ok\"} 18"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("cohort_router_workflow_requests_total{workflow=\"wf-3\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cohort_router_workflow_cost_total{workflow=\"wf-3\"} "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("cohort_router_workflow_cost_total{workflow=\"wf-3\"} 0\n"), std::string::npos) << metrics;
}

TEST_F(Router, AServerKilledMidRunFailsOver) {
  for (int w = 0; w < 3; ++w) ASSERT_EQ(chat(ask("before"), "wf-" + std::to_string(w)).status, 200);
  auto before = where_workflows_went();
  size_t victim = *before["wf-0"].begin();
  mocks_[victim]->process().signal(SIGKILL);
  mocks_[victim]->process().wait(5000);
  mocks_[victim].reset();
  for (int round = 0; round < 3; ++round)
    for (int w = 0; w < 3; ++w) {
      auto a = chat(ask("after " + std::to_string(round)), "wf-" + std::to_string(w));
      EXPECT_EQ(a.status, 200) << a.body;
    }
  auto after = where_workflows_went();
  ASSERT_TRUE(after.count("wf-0"));
  EXPECT_EQ(after["wf-0"].count(victim), 0u);
  EXPECT_EQ(after["wf-0"].size(), 1u) << "after failing over, wf-0 stays on its new endpoint";
}

// The data lines of an OpenAI stream, after the HTTP head.
std::vector<std::string> data_lines(const std::string& raw) {
  std::vector<std::string> out;
  std::stringstream lines(raw.substr(raw.find("\r\n\r\n") + 4));
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  return out;
}

TEST_F(Router, StreamsChunksThatAddUpToTheAnswer) {
  auto whole = json::parse(chat(ask("Tell me about actors."), "wf-stream").body);
  auto body = ask("Tell me about actors.");
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto raw = http_post_stream(node_->port(), "/v1/chat/completions", body.dump(), {{"X-Workflow-Id", "wf-stream"}});
  EXPECT_NE(raw.find("Content-Type: text/event-stream"), std::string::npos) << raw;
  auto lines = data_lines(raw);
  ASSERT_GE(lines.size(), 4u) << raw;
  EXPECT_EQ(lines.back(), "[DONE]");
  std::string text;
  size_t pieces = 0;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    auto chunk = json::parse(lines[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], json::parse(lines[0])["id"]) << "one id for every chunk of an answer";
    if (chunk["choices"].empty()) continue;
    auto delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) {
      text += delta["content"].get<std::string>();
      ++pieces;
    }
  }
  EXPECT_EQ(json::parse(lines[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_GT(pieces, 3u) << "the pieces come as the model sends them, not as one";
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
  auto finish = json::parse(lines[lines.size() - 3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  auto usage = json::parse(lines[lines.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_GT(usage["usage"]["total_tokens"].get<int>(), 0);
}

// A client that goes away mid-stream withdraws the call: the model's connection is
// closed at once, not left to the request timeout (two minutes).
TEST_F(Router, AStreamingClientThatHangsUpStopsTheCall) {
  auto body = ask("never answered");
  body["stream"] = true;
  body["mock_fault"] = "hang";
  auto raw =
      http_post_stream(node_->port(), "/v1/chat/completions", body.dump(), {{"X-Workflow-Id", "wf-hangup"}}, 500);
  EXPECT_NE(raw.find("200 OK"), std::string::npos) << raw;
  auto busy = [&](const json& s) { return s.value("requests", 0) > 0; };
  size_t reached = mocks_.size();
  for (size_t i = 0; i < mocks_.size(); ++i)
    if (busy(mock_stats(mocks_[i]->port()))) reached = i;
  ASSERT_LT(reached, mocks_.size()) << "no mock got the call";
  auto stats = wait_stats(
      mocks_[reached]->port(), [](const json& s) { return s.value("open_connections", -1) == 0; }, 5000);
  EXPECT_EQ(stats.value("open_connections", -1), 0) << stats;
  EXPECT_EQ(chat(ask("next")).status, 200);
}

// The same for a call not streamed: the client that gives up waiting for the answer
// withdraws the call, and the model's connection is closed at once.
TEST_F(Router, AClientThatHangsUpBeforeTheAnswerStopsTheCall) {
  auto body = ask("never answered");
  body["mock_fault"] = "hang";
  auto raw = http_post_stream(node_->port(), "/v1/chat/completions", body.dump(), {{"X-Workflow-Id", "wf-gone"}}, 500);
  EXPECT_EQ(raw, "") << "no answer within 500 ms";
  size_t reached = mocks_.size();
  for (size_t i = 0; i < mocks_.size(); ++i)
    if (mock_stats(mocks_[i]->port()).value("requests", 0) > 0) reached = i;
  ASSERT_LT(reached, mocks_.size()) << "no mock got the call";
  auto stats = wait_stats(
      mocks_[reached]->port(), [](const json& s) { return s.value("client_cancellations", 0) == 1; }, 5000);
  EXPECT_EQ(stats.value("client_cancellations", 0), 1) << stats;
  EXPECT_EQ(stats.value("open_connections", -1), 0) << stats;
  auto metrics = http_call(node_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("cohort_router_requests_total{model=\"fast\",outcome=\"client_gone\"} 1"), std::string::npos)
      << metrics;
  EXPECT_EQ(chat(ask("next")).status, 200);
}

// A node stopped (SIGTERM) while routed calls wait for their model exits cleanly. Its
// HTTP server's I/O was freed before the router's desks answered the calls they held,
// and the answers were posted to it (a use after free, a crash at exit).
TEST_F(Router, ANodeStoppedWithCallsInFlightExitsCleanly) {
  auto plain = ask("never answered");
  plain["mock_fault"] = "hang";
  auto streamed = plain;
  streamed["stream"] = true;
  std::thread a([&] { chat(plain, "wf-stop-a", 15000); });
  std::thread b([&] { http_post_stream(node_->port(), "/v1/chat/completions", streamed.dump(), {}, 15000); });
  auto reached = [&] {
    int n = 0;
    for (auto& m : mocks_) n += mock_stats(m->port()).value("requests", 0);
    return n;
  };
  for (int i = 0; i < 400 && reached() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(reached(), 2) << "the calls did not reach the models";
  node_->process().signal(SIGTERM);
  auto status = node_->process().wait(20000);
  a.join();
  b.join();
  auto errors = node_->process().read_stderr(500);
  EXPECT_EQ(status, 0) << errors;
  EXPECT_EQ(errors.find("AddressSanitizer"), std::string::npos) << errors;
  EXPECT_EQ(errors.find("runtime error"), std::string::npos) << errors;
}

// Watching for that hang-up does not eat a request the client pipelines behind the
// first: both are answered, in order, on the one connection.
TEST_F(Router, APipelinedRequestIsAnsweredAfterTheOneBeforeIt) {
  auto body = json{{"model", "slow"}, {"messages", {{{"role", "user"}, {"content", "first"}}}}}.dump();
  auto first = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string second = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  auto raw = http_raw(node_->port(), {first, second}, 100, 5000);
  auto completion = raw.find("chat.completion");
  auto models = raw.find("\"object\":\"list\"");
  ASSERT_NE(completion, std::string::npos) << raw;
  ASSERT_NE(models, std::string::npos) << raw;
  EXPECT_LT(completion, models) << raw;
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK", 0), 0u) << raw;
  EXPECT_NE(raw.find("HTTP/1.1 200 OK", 10), std::string::npos) << raw;
}

TEST_F(Router, AnUpstreamFailureIsAnOpenAIError) {
  auto body = ask("fail please");
  body["mock_fault"] = "500";  // passed through to the mock, on every endpoint
  auto a = chat(body, "wf-fail");
  EXPECT_EQ(a.status, 502) << a.body;
  auto doc = json::parse(a.body);
  EXPECT_EQ(doc["error"]["type"], "server_error");
  EXPECT_EQ(doc["error"]["code"], "server_error");
  body["mock_fault"] = "429";
  auto limited = chat(body, "wf-fail");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(json::parse(limited.body)["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(limited.headers.count("retry-after"));
}

TEST_F(Router, RefusesBadRequestsInOpenAIsShape) {
  auto port = node_->port();
  auto expect = [&](const http_answer& a, int status, const std::string& code, const std::string& param) {
    EXPECT_EQ(a.status, status) << a.body;
    auto doc = json::parse(a.body, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << a.body;
    EXPECT_EQ(doc["error"]["code"], code) << a.body;
    if (!param.empty()) {
      EXPECT_EQ(doc["error"]["param"], param) << a.body;
    }
    EXPECT_TRUE(doc["error"]["message"].is_string());
  };
  expect(http_call(port, "POST", "/v1/chat/completions", "{\"model\":"), 400, "invalid_json", "$");
  expect(chat({{"model", "gpt-9"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}), 404, "model_not_found",
         "$.model");
  expect(chat({{"model", "fast"}, {"messages", "hello"}}), 400, "invalid_request", "$.messages");
  expect(chat({{"model", "fast"}, {"messages", {{{"content", "x"}}}}}), 400, "invalid_request", "$.messages[0].role");
  expect(chat({{"model", 7}, {"messages", {{{"role", "user"}}}}}), 400, "invalid_request", "$.model");
  expect(chat({{"model", "fast"}, {"stream", "yes"}, {"messages", {{{"role", "user"}}}}}), 400, "invalid_request",
         "$.stream");
  expect(chat({{"model", "fast"}, {"n", 2}, {"messages", {{{"role", "user"}}}}}), 400, "invalid_request", "$.n");
  expect(http_call(port, "GET", "/v1/chat/completions"), 405, "method_not_allowed", "");
  expect(http_call(port, "POST", "/v1/chat/completions", ask("x").dump(), {{"X-Workflow-Id", std::string(300, 'w')}}),
         400, "invalid_header", "header X-Workflow-Id");
  // The node still answers.
  EXPECT_EQ(chat(ask("still there?")).status, 200);
}

// The other way: a run on the node calls its model with the node's run id as
// X-Workflow-Id and the branch's node path as X-Agent-Id.
TEST_F(Router, ARunsOwnModelCallsCarryItsIdUpstream) {
  json scenario = {{"name", "upstream"},
                   {"models", {{"m", {{"provider", "openai"}, {"base_url", mocks_[0]->base_url()}}}}},
                   {"agents", {{"writer", {{"model", "m"}, {"prompt", "write"}}}}},
                   {"workflow", {{"agent", "writer"}}}};
  auto run = submit(node_->port(), {{"scenario", scenario}})["id"].get<std::string>();
  ASSERT_EQ(wait_finished(node_->port(), run)["status"], "succeeded");
  auto headers = mock_stats(mocks_[0]->port())["extra_headers"];
  EXPECT_EQ(headers.value("X-Workflow-Id: " + run, 0), 1) << headers;
  EXPECT_EQ(headers.value("X-Agent-Id: writer", 0), 1) << headers;
}

TEST(RouterWithToken, NeedsTheNodesTokenAsAnApiKey) {
  auto dir = fresh_dir("router-token");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/models.json") << R"({"models": {"local": {"provider": "sim", "latency_ms": 1}}})";
  ::setenv("COHORT_TEST_ROUTER_TOKEN", "s3cret-router", 1);
  node_process node(dir + "/data", {"--models", dir + "/models.json", "--token-env", "COHORT_TEST_ROUTER_TOKEN"});
  json body = {{"model", "local"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto refused = http_call(node.port(), "POST", "/v1/chat/completions", body.dump());
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(json::parse(refused.body)["error"]["type"], "authentication_error");
  auto ok =
      http_call(node.port(), "POST", "/v1/chat/completions", body.dump(), {{"Authorization", "Bearer s3cret-router"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(RouterModelsFile, ABrokenFileStopsTheNodeNamingThePath) {
  auto dir = fresh_dir("router-bad");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/models.json") << R"({"models": {"fast": {"provider": "openai", "base_url": "ftp://x"}}})";
  child_process serve(
      {COHORT_BINARY, "serve", "--port", "0", "--data", dir + "/data", "--models", dir + "/models.json"});
  EXPECT_NE(serve.wait(10000), 0);
  auto err = serve.read_stderr(2000);
  EXPECT_NE(err.find("$.models.fast.base_url"), std::string::npos) << err;
  EXPECT_NE(err.find("models.json"), std::string::npos) << err;
}

}  // namespace
}  // namespace cohort::testing
