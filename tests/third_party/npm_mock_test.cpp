// cohort against a third-party OpenAI-compatible mock server, @dwmkerr/mock-llm from the
// npm registry (installed by the ctest fixture third_party.install_npm_mock), started on
// a free 127.0.0.1 port and ended by its process id. Its rule echoes the last user
// message, sends no usage, and streams in small chunks when asked to.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

using cohort::testing::child_process;
using nlohmann::json;

namespace {

const std::string mock_dir = COHORT_NPM_MOCK_DIR;
const std::string main_js = mock_dir + "/node_modules/@dwmkerr/mock-llm/dist/main.js";

// Echo the last user message; stream 8 characters every 5 ms.
const char* const config_yaml = R"(streaming:
  chunkSize: 8
  chunkIntervalMs: 5
rules:
  - path: "/v1/chat/completions"
    method: "POST"
    match: "@"
    response:
      status: 200
      content: |
        {
          "id": "chatcmpl-{{timestamp}}",
          "object": "chat.completion",
          "model": "{{jmes request body.model}}",
          "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "{{jmes request body.messages[-1].content}}"},
            "finish_reason": "stop"
          }]
        }
)";

int free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class NpmMockLlm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
    ASSERT_TRUE(std::filesystem::exists(main_js))
        << main_js << " is missing: the fixture third_party.install_npm_mock installs it (or run "
        << "tests/support/install-npm-mock.sh " << mock_dir << ")";
    config_ = mock_dir + "/cohort-test-" + std::to_string(::getpid()) + ".yaml";
    std::ofstream(config_) << config_yaml;
    port_ = free_port();
    server_ = std::make_unique<child_process>(std::vector<std::string>{
        "/usr/bin/env", "PORT=" + std::to_string(port_), "HOST=127.0.0.1", "node", main_js, "--config", config_});
    std::string seen;
    for (int i = 0; i < 40; ++i) {  // it prints a configuration summary first
      auto line = server_->read_line(500);
      seen += line + "\n";
      if (line.find("server running on") != std::string::npos) return;
    }
    FAIL() << "@dwmkerr/mock-llm did not start on port " << port_ << ":\n" << seen << server_->read_stderr(500);
  }
  void TearDown() override {
    if (server_) server_->terminate();  // by its pid: SIGTERM, then SIGKILL
    std::filesystem::remove(config_);
  }

  json scenario(bool stream) const {
    return {{"name", "npm-mock"},
            {"models", {{"gpt", {{"provider", "openai"},
                                 {"base_url", "http://127.0.0.1:" + std::to_string(port_) + "/v1"},
                                 {"model", "gpt-4o-mini"},
                                 {"stream", stream},
                                 {"params", {{"temperature", 0}}}}}}},
            {"agents", {{"echo", {{"model", "gpt"}, {"system", "Repeat the user."}, {"prompt", "Tell me about {{item}}, briefly please."}}}}},
            {"workflow", {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "echo"}}},
            {"input", {{"xs", {"lighthouses", "glaciers", "tide pools"}}}}};
  }

  std::string config_;
  int port_ = 0;
  std::unique_ptr<child_process> server_;
};

const json expected = {"Tell me about lighthouses, briefly please.", "Tell me about glaciers, briefly please.",
                       "Tell me about tide pools, briefly please."};

}  // namespace

TEST_F(NpmMockLlm, ChatCompletionsThroughCohort) {
  cohort::Runtime rt;
  auto r = rt.run(rt.load(scenario(false)));
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, expected);
  EXPECT_EQ(r.summary.model_calls, 3);
  // This server sends no usage: estimated, and marked.
  EXPECT_EQ(r.summary.usage_estimated_calls, 3);
  EXPECT_GT(r.summary.tokens, 0);
}

TEST_F(NpmMockLlm, StreamedAnswersAreTheSame) {
  cohort::Runtime rt;
  int tokens = 0;
  std::mutex m;
  auto r = rt.run(rt.load(scenario(true)), std::nullopt, [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    if (e.kind == "token") ++tokens;
  });
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output, expected);
  std::lock_guard<std::mutex> lock(m);
  EXPECT_GE(tokens, 3 * 5) << "each 40-odd character answer comes in 8-character chunks";
}

// The official `openai` client (installed with the mock) against `cohort mock-llm`:
// what it sends for structured output, n choices and streamed usage gets what OpenAI
// would answer (tests/third_party/openai_client_check.mjs).
TEST(OfficialOpenAiClient, CohortMockLlmAnswersWhatItAsks) {
  if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
  cohort::testing::mock_llm_process mock;
  child_process node({"/usr/bin/env", "node", std::string(COHORT_SOURCE_DIR) + "/tests/third_party/openai_client_check.mjs",
                      mock.base_url(), mock_dir});
  auto out = node.read_all(30000);
  EXPECT_EQ(node.wait(5000), 0) << out << node.read_stderr(1000);
  EXPECT_EQ(out, "ok\n") << node.read_stderr(1000);
}

namespace cohort::testing {
namespace {

// The official `openai` client against a node's router (tests/third_party/
// openai_router_check.mjs): what an OpenAI user points at the node just works,
// the node's token serving as the API key.
TEST(OfficialOpenAiClient, TalksToTheNodesRouter) {
  if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
  mock_llm_process mock;
  auto dir = fresh_dir("router-openai-client");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/models.json") << nlohmann::json{
      {"models", {{"fast", {{"provider", "openai"}, {"stream", true}, {"base_url", mock.base_url()}}}}}};
  ::setenv("COHORT_TEST_ROUTER_TOKEN", "router-token", 1);
  node_process node(dir + "/data", {"--models", dir + "/models.json", "--token-env", "COHORT_TEST_ROUTER_TOKEN"});
  child_process client({"/usr/bin/env", "node", std::string(COHORT_SOURCE_DIR) + "/tests/third_party/openai_router_check.mjs",
                        node.url() + "/v1", mock_dir});
  auto out = client.read_all(30000);
  EXPECT_EQ(client.wait(5000), 0) << out << client.read_stderr(1000);
  EXPECT_EQ(out, "ok\n") << client.read_stderr(1000);
  auto headers = mock_stats(mock.port())["extra_headers"];
  EXPECT_EQ(headers.value("X-Workflow-Id: js-client", 0), 2) << "the client's workflow id goes on upstream: " << headers;
}

// The official A2A JavaScript SDK against a node serving a scenario as an A2A agent
// (tests/third_party/a2a_client_check.mjs): send, stream, get, cancel, errors.
TEST(OfficialA2aSdk, TalksToTheNodesA2aAgents) {
  if (std::getenv("COHORT_SKIP_NPM_MOCK")) GTEST_SKIP() << "COHORT_SKIP_NPM_MOCK is set";
  auto dir = fresh_dir("a2a-sdk");
  std::filesystem::create_directories(dir + "/scenarios");
  std::ofstream(dir + "/scenarios/summarizer.json") << R"({"name": "summarizer", "description": "Summarises a text.",
    "models": {"m": {"provider": "sim", "latency_ms": 20}},
    "agents": {"a": {"model": "m", "prompt": "Summarise: {{input.text}}"}}, "workflow": {"agent": "a"}})";
  // Long enough to be cancelled.
  std::ofstream(dir + "/scenarios/slow.json") << R"({"name": "slow", "models": {"m": {"provider": "sim", "latency_ms": 5000}},
    "agents": {"a": {"model": "m", "prompt": "{{input.text}}"}}, "workflow": {"agent": "a"}})";
  node_process node(dir + "/data", {"--scenarios", dir + "/scenarios"});
  child_process client({"/usr/bin/env", "node", std::string(COHORT_SOURCE_DIR) + "/tests/third_party/a2a_client_check.mjs",
                        node.url(), mock_dir});
  auto out = client.read_all(30000);
  EXPECT_EQ(client.wait(5000), 0) << out << client.read_stderr(1000);
  EXPECT_EQ(out, "ok\n") << client.read_stderr(1000);
}

}  // namespace
}  // namespace cohort::testing
