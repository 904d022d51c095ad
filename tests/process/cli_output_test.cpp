// What `cohort run` does when its output cannot be written (a full disk, a closed
// stdout) and when its terminal goes away (SIGHUP): real processes, real files.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using cohort::testing::child_process;
using nlohmann::json;

namespace {

const std::string quickstart = std::string(COHORT_SOURCE_DIR) + "/examples/quickstart.json";

struct outcome {
  int code;
  std::string out, err;
};

// Through a shell, so a test can redirect or close the child's stdout.
outcome shell(const std::string& command) {
  child_process p({"/bin/sh", "-c", command});
  auto out = p.read_all(30000);
  int code = p.wait(5000);
  return {code, out, p.read_stderr(200)};
}

std::string cohort_run(const std::string& args) { return std::string("exec ") + COHORT_BINARY + " run " + args; }

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(CliOutput, AResultThatCannotBeWrittenIsExitCode3) {
  auto full = shell(cohort_run(quickstart + " -q > /dev/full"));
  EXPECT_EQ(full.code, 3) << full.err;
  EXPECT_NE(full.err.find("writing the result to stdout failed: No space left on device"), std::string::npos)
      << full.err;

  auto closed = shell(cohort_run(quickstart + " -q --json >&-"));
  EXPECT_EQ(closed.code, 3) << closed.err;
  EXPECT_NE(closed.err.find("writing the result to stdout failed"), std::string::npos) << closed.err;
}

TEST(CliOutput, EventsThatCannotBeWrittenAreExitCode3AfterTheResult) {
  auto r = shell(cohort_run(quickstart + " -q --events /dev/full"));
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.out.find("== output (succeeded) =="), std::string::npos) << "the result still comes: " << r.out;
  EXPECT_NE(r.err.find("--events: writing \"/dev/full\" failed: No space left on device"), std::string::npos)
      << r.err;
}

// A closed terminal sends SIGHUP: the run is cancelled like on SIGTERM, its result
// printed and its events file complete, instead of a silent death.
TEST(CliOutput, SighupCancelsTheRunAndKeepsItsResultAndEvents) {
  json doc{{"models", {{"slow", {{"provider", "sim"}, {"latency_ms", 20000}}}}},
           {"agents", {{"a", {{"type", "llm"}, {"model", "slow"}, {"prompt", "item {{item}}"}}}}},
           {"workflow", {{"type", "fan_out"}, {"over", "input"}, {"agent", "a"}}},
           {"input", {1, 2, 3}}};
  auto base = ::testing::TempDir() + "/sighup-" + std::to_string(::getpid());  // this process's own
  auto scenario = base + ".json";
  auto events = base + ".events.jsonl";
  std::ofstream(scenario) << doc.dump();
  std::remove(events.c_str());  // an earlier run's lines must not count as this run's
  child_process p({COHORT_BINARY, "run", scenario, "-q", "--events", events});
  for (int i = 0; i < 100 && lines_of(events).size() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  p.signal(SIGHUP);
  auto out = p.read_all(10000);
  EXPECT_EQ(p.wait(5000), 130);
  EXPECT_NE(out.find("== output (cancelled) =="), std::string::npos) << out;
  EXPECT_NE(out.find("interrupted (SIGHUP)"), std::string::npos) << out;
  auto lines = lines_of(events);
  ASSERT_FALSE(lines.empty());
  auto last = json::parse(lines.back());  // a whole line: the file was not cut
  EXPECT_EQ(last["kind"], "finished");
  EXPECT_EQ(last["path"], "workflow");
  EXPECT_EQ(last["status"], "cancelled");
}

// A tool loop's report in a line of the patterns section: turns, calls by tool.
TEST(CliOutput, AToolLoopIsSummedUpInALine) {
  auto r = shell(cohort_run(std::string(COHORT_SOURCE_DIR) + "/examples/tool-research.json -q"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("researcher: tool loop, 3 turn(s), 3 call(s): web_search 2, calculator 1\n"), std::string::npos)
      << r.out;
}
