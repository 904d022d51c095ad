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
