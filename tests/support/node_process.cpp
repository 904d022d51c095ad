#include "tests/support/node_process.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "tests/support/http_call.hpp"

namespace cohort::testing {

std::string fresh_dir(const std::string& name) {
  auto dir = ::testing::TempDir() + "/node-" + name + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

node_process::node_process(const std::string& data, std::vector<std::string> args, std::vector<std::string> global) {
  std::vector<std::string> argv{COHORT_BINARY, "--log-level", "warn"};
  argv.insert(argv.end(), global.begin(), global.end());
  for (const char* a : {"serve", "--port", "0", "--data"}) argv.push_back(a);
  argv.push_back(data);
  argv.insert(argv.end(), args.begin(), args.end());
  proc_ = std::make_unique<child_process>(argv);
  auto line = proc_->read_line(15000);
  auto colon = line.rfind(':');
  if (line.find("listening on http://") == std::string::npos || colon == std::string::npos)
    throw std::runtime_error("cohort serve did not start: \"" + line + "\" " + proc_->read_stderr(1000));
  port_ = std::stoi(line.substr(colon + 1));
}

nlohmann::json scenario_file(const std::string& name) {
  std::ifstream in(std::string(COHORT_SOURCE_DIR) + "/examples/" + name);
  return nlohmann::json::parse(in);
}

nlohmann::json slow_scenario(int latency_ms) {
  return nlohmann::json::parse(R"({"name": "slow", "models": {"m": {"provider": "sim", "latency_ms": )" +
                               std::to_string(latency_ms) + R"(}},
    "agents": {"a": {"type": "llm", "model": "m", "prompt": "hello"}},
    "workflow": {"agent": "a"}})");
}

nlohmann::json submit(int port, const nlohmann::json& body, int expect_status,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  auto r = http_call(port, "POST", "/v1/runs", body.dump(), headers);
  EXPECT_EQ(r.status, expect_status) << r.body;
  return nlohmann::json::parse(r.body, nullptr, false);
}

nlohmann::json wait_finished(int port, const std::string& id, int timeout_ms,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  nlohmann::json doc;
  do {
    doc = nlohmann::json::parse(http_call(port, "GET", "/v1/runs/" + id, "", headers).body, nullptr, false);
    if (doc.is_object() && doc.value("status", "running") != "running") return doc;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  return doc;
}

}  // namespace cohort::testing
