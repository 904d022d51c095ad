// Usage and cost against real `cohort mock-llm` processes: the totals of a run equal
// what the server counted, per run, per agent and per pattern, priced per million
// tokens; a server that sends no usage gets estimates, marked as such.
#include <cmath>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"

using cohort::testing::mock_llm_process;
using cohort::testing::mock_stats;
using nlohmann::json;

namespace {

constexpr double prompt_price = 2.5, completion_price = 10.0;  // per million tokens

// A pipeline: three writers in a fan-out, then one editor.
json usage_scenario(const std::string& base_url, bool stream = false) {
  return {{"name", "usage"},
          {"models", {{"m", {{"provider", "openai"},
                             {"base_url", base_url},
                             {"stream", stream},
                             {"price", {{"prompt_per_million", prompt_price},
                                        {"completion_per_million", completion_price}}}}}}},
          {"agents", {{"writer", {{"model", "m"}, {"prompt", "Write one line about {{item}}."}}},
                      {"editor", {{"model", "m"}, {"system", "You edit."}, {"prompt", "Merge: {{input.xs}}"}}}}},
          {"workflow", {{"type", "pipeline"},
                        {"steps", {{{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "writer"}},
                                   {{"agent", "editor"}}}}}},
          {"input", {{"xs", {"tea", "coffee", "cocoa"}}}}};
}

double price(int64_t prompt, int64_t completion) {
  return (static_cast<double>(prompt) * prompt_price + static_cast<double>(completion) * completion_price) / 1e6;
}

void expect_totals(const json& u, int64_t calls, int64_t prompt, int64_t completion, int64_t estimated,
                   const std::string& what) {
  EXPECT_EQ(u["model_calls"], calls) << what << ": " << u.dump();
  EXPECT_EQ(u["prompt_tokens"], prompt) << what;
  EXPECT_EQ(u["completion_tokens"], completion) << what;
  EXPECT_EQ(u["tokens"], prompt + completion) << what;
  EXPECT_NEAR(u["cost"].get<double>(), price(prompt, completion), 1e-12) << what;
  EXPECT_EQ(u["usage_estimated_calls"], estimated) << what;
}

void check_run(const cohort::RunResult& r, const json& server, int64_t estimated_each) {
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  int64_t prompt = server["prompt_tokens"], completion = server["completion_tokens"];
  ASSERT_GT(prompt, 0);
  ASSERT_GT(completion, 0);
  const auto& s = r.summary;
  EXPECT_EQ(s.model_calls, 4);
  EXPECT_EQ(s.prompt_tokens, prompt);
  EXPECT_EQ(s.completion_tokens, completion);
  EXPECT_NEAR(s.cost, price(prompt, completion), 1e-12);
  EXPECT_EQ(s.usage_estimated_calls, 4 * estimated_each);

  // By agent: the writers' and the editor's add up to the run's.
  const auto& agents = r.usage["agents"];
  ASSERT_EQ(agents.size(), 2u) << r.usage.dump();
  int64_t wp = agents["writer"]["prompt_tokens"], wc = agents["writer"]["completion_tokens"];
  expect_totals(agents["writer"], 3, wp, wc, 3 * estimated_each, "writer");
  expect_totals(agents["editor"], 1, prompt - wp, completion - wc, estimated_each, "editor");

  // By pattern: the pipeline holds everything, its fan-out the writers.
  const auto& patterns = r.usage["patterns"];
  ASSERT_EQ(patterns.size(), 2u) << r.usage.dump();
  for (auto& [path, u] : patterns.items()) {
    if (u["pattern"] == "pipeline") expect_totals(u, 4, prompt, completion, 4 * estimated_each, path);
    else if (u["pattern"] == "fan_out") expect_totals(u, 3, wp, wc, 3 * estimated_each, path);
    else ADD_FAILURE() << "unexpected pattern " << path << ": " << u.dump();
  }
  auto j = r.to_json();
  EXPECT_EQ(j["usage"], r.usage);
  EXPECT_EQ(j["summary"]["usage_estimated_calls"], s.usage_estimated_calls);
  EXPECT_NEAR(j["summary"]["cost"].get<double>(), s.cost, 1e-12);
}

}  // namespace

TEST(Usage, TotalsEqualWhatTheServerCountedByRunAgentAndPattern) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "not streamed");
    mock_llm_process mock;
    cohort::Runtime rt;
    auto r = rt.run(rt.load(usage_scenario(mock.base_url(), stream)));
    check_run(r, mock_stats(mock.port()), 0);
  }
}

// A call answered before its branch failed all the same (here: the writers then wait
// at a barrier for four that only three reach, where their 500 ms timeout ends them)
// was made and paid for: it counts for its agent, its patterns and the run alike, as
// the server counted it.
TEST(Usage, ACallWhoseBranchThenTimedOutStillCounts) {
  mock_llm_process mock;
  cohort::Runtime rt;
  auto doc = usage_scenario(mock.base_url());
  doc["barriers"] = {{"never", 4}};
  doc["agents"]["writer"]["coordination"] = {{"as", "writer-{{index}}"}, {"barrier", "never"}};
  doc["agents"]["writer"]["timeout_ms"] = 500;
  auto r = rt.run(rt.load(doc));
  // Failed (the barrier broke) or timed out (their supervisor stopped them first).
  ASSERT_NE(r.status, "succeeded") << r.to_json().dump();
  EXPECT_EQ(r.branches.succeeded, 0) << r.to_json().dump();
  auto server = mock_stats(mock.port());
  ASSERT_EQ(server["requests"], 3) << server.dump();
  int64_t prompt = server["prompt_tokens"], completion = server["completion_tokens"];
  EXPECT_EQ(r.summary.model_calls, 3);
  EXPECT_EQ(r.summary.prompt_tokens, prompt);
  EXPECT_EQ(r.summary.completion_tokens, completion);
  EXPECT_NEAR(r.summary.cost, price(prompt, completion), 1e-12);
  expect_totals(r.usage["agents"]["writer"], 3, prompt, completion, 0, "writer");
  const auto& patterns = r.usage["patterns"];
  ASSERT_EQ(patterns.size(), 2u) << r.usage.dump();  // the fan-out, and the pipeline around it
  for (auto& [path, u] : patterns.items()) expect_totals(u, 3, prompt, completion, 0, path);
}

TEST(Usage, WithoutUsageFromTheServerItIsEstimatedAndMarked) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "not streamed");
    mock_llm_process mock({"--no-usage"});
    cohort::Runtime rt;
    auto r = rt.run(rt.load(usage_scenario(mock.base_url(), stream)));
    // The mock's own count uses the same 4-characters-a-token rule as cohort's estimate.
    check_run(r, mock_stats(mock.port()), 1);
  }
}

TEST(Usage, CohortRunPrintsTheCostLine) {
  mock_llm_process mock({"--no-usage"});
  char path[] = "/tmp/cohort-usage-XXXXXX.json";
  int fd = mkstemps(path, 5);
  ASSERT_GE(fd, 0);
  auto text = usage_scenario(mock.base_url()).dump();
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  cohort::testing::child_process run({COHORT_BINARY, "run", "-q", path});
  auto out = run.read_all(20000);
  EXPECT_EQ(run.wait(5000), 0) << out;
  unlink(path);
  EXPECT_NE(out.find("cost             0.0"), std::string::npos) << out;
  EXPECT_NE(out.find("usage estimated for 4 of 4 calls"), std::string::npos) << out;
}
