// Runtime settings: built-in defaults (config/cohort.json), a config file, then COHORT_* variables.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "cohort/options.hpp"

namespace {

// A file of this test's own: ctest runs the cases as parallel processes.
std::string write_config(const std::string& text) {
  static int n = 0;
  auto path = ::testing::TempDir() + "/cohort-config-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".json";
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& path) {
  try {
    cohort::RuntimeOptions::load(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Options, DefaultsComeFromTheBuiltInConfig) {
  auto o = cohort::RuntimeOptions::defaults();
  EXPECT_EQ(o.io_threads, 1);
  EXPECT_EQ(o.scheduler_policy, "sharing");
  EXPECT_EQ(o.default_timeout_ms, 300000);
  EXPECT_EQ(o.log_level, "warn");
}

TEST(Options, FileThenEnvironmentOverride) {
  auto path = write_config(R"({"io_threads": 2, "log_level": "debug", "default_timeout_ms": 1234})");
  setenv("COHORT_IO_THREADS", "3", 1);
  auto o = cohort::RuntimeOptions::load(path);
  unsetenv("COHORT_IO_THREADS");
  EXPECT_EQ(o.io_threads, 3);              // environment beats the file
  EXPECT_EQ(o.log_level, "debug");         // the file beats the defaults
  EXPECT_EQ(o.default_timeout_ms, 1234);
}

TEST(Options, BadSettingsNameFileAndKey) {
  auto path = write_config(R"({"io_threads": "two"})");
  auto err = error_of(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("io_threads"), std::string::npos) << err;
  EXPECT_NE(error_of(write_config(R"({"threads": 2})")).find("unknown setting \"threads\""), std::string::npos);
  EXPECT_NE(error_of(write_config(R"({"log_level": "loud"})")).find("loud"), std::string::npos);
  auto broken = write_config("{ nope");
  EXPECT_NE(error_of(broken).find(broken), std::string::npos);
  setenv("COHORT_DEFAULT_TIMEOUT_MS", "soon", 1);
  auto env_err = error_of("");
  unsetenv("COHORT_DEFAULT_TIMEOUT_MS");
  EXPECT_NE(env_err.find("COHORT_DEFAULT_TIMEOUT_MS"), std::string::npos) << env_err;
}

// "mcp_servers" in the config: offered to every scenario, checked as a scenario's are.
TEST(Options, McpServersAreReadAndCheckedWithTheirPaths) {
  auto path = write_config(R"({"mcp_servers": {"fs": {"command": "npx", "args": ["-y", "server-filesystem", "/tmp"]},
                                                "web": {"url": "http://127.0.0.1:9/mcp"}}})");
  auto o = cohort::RuntimeOptions::load(path);
  EXPECT_EQ(o.mcp_servers["fs"]["command"], "npx");
  EXPECT_EQ(o.mcp_servers["web"]["url"], "http://127.0.0.1:9/mcp");
  auto bad_url = write_config(R"({"mcp_servers": {"web": {"url": "ftp://127.0.0.1/mcp"}}})");
  auto err = error_of(bad_url);
  EXPECT_NE(err.find(bad_url), std::string::npos) << err;
  EXPECT_NE(err.find("$.mcp_servers.web.url"), std::string::npos) << err;
  err = error_of(write_config(R"({"mcp_servers": {"x": {"args": ["a"]}}})"));
  EXPECT_NE(err.find("$.mcp_servers.x"), std::string::npos) << "neither command nor url: " << err;
  err = error_of(write_config(R"({"mcp_servers": {"x": {"command": "a", "timeout_ms": 99999999999}}})"));
  EXPECT_NE(err.find("$.mcp_servers.x.timeout_ms"), std::string::npos) << err;
}
