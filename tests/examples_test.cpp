// Every example scenario in examples/ runs on the sim model, and its twin test checks
// what the example is there to show.
#include <algorithm>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"

using nlohmann::json;

namespace {

class Examples : public ::testing::Test {
 protected:
  cohort::RunResult run(const std::string& name) {
    auto r = rt.run(rt.load_file(std::string(COHORT_SOURCE_DIR) + "/examples/" + name));
    EXPECT_TRUE(r.ok()) << name << ": " << r.error;
    return r;
  }
  cohort::Runtime rt;
};

std::string text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

TEST_F(Examples, ResearchComparisonResearchesEveryLanguageInParallel) {
  auto r = run("research-comparison.json");
  EXPECT_NE(text(r.output).find("Report:"), std::string::npos);
  EXPECT_EQ(r.summary.model_calls, 5);
  // Three researchers of 200-600 ms side by side, then two steps: faster than in a row.
  EXPECT_GT(r.summary.speedup, 1.2);
}

TEST_F(Examples, BusinessPlanDagStartsNodesOnReadyAndReportsLayers) {
  auto r = run("business-plan-dag.json");
  EXPECT_EQ(r.output, "synthesizer on Final business plan: done.");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["layers"], json::parse(R"([["market", "competition", "financials", "operations"],
                                          ["analysis", "summary"], ["review_financials", "review_operations"], ["plan"]])"));
  EXPECT_EQ(rep["critical_path"].back(), "plan");
  EXPECT_GE(rep["efficiency"].get<double>(), 0.95);
  EXPECT_EQ(r.summary.model_calls, 9);
}

TEST_F(Examples, FullstackArchitectureDagHasFiveLayers) {
  auto r = run("fullstack-architecture-dag.json");
  const auto& rep = r.reports.at("workflow");
  ASSERT_EQ(rep["layers"].size(), 5u);
  EXPECT_EQ(rep["layers"][0].size(), 6u);
  EXPECT_EQ(rep["layers"][1].size(), 6u);
  EXPECT_EQ(rep["critical_path"].size(), 5u);
  EXPECT_GE(rep["efficiency"].get<double>(), 0.95);
  EXPECT_EQ(r.output, "synthesizer on Complete documentation: done.");
}

TEST_F(Examples, CoordinatorPlanIsRunAsADag) {
  auto r = run("coordinator-plan.json");
  const auto& plan = r.reports.at("workflow");
  EXPECT_EQ(plan["plan"]["agents"].size(), 5u);
  EXPECT_EQ(plan["attempts"].size(), 1u);
  EXPECT_EQ(r.reports.at("workflow/dag")["layers"], json::parse(R"([["0", "1", "2"], ["3"], ["4"]])"));
  EXPECT_EQ(r.output["4"], "synthesizer: Write the recommendation, done.");
}

TEST_F(Examples, ConsensusVoteWeighsTheModels) {
  auto r = run("consensus-vote.json");
  EXPECT_EQ(r.output["normalized"], "approve");
  EXPECT_DOUBLE_EQ(r.output["weight"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(r.output["distribution"]["reject"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r.output["confidence"].get<double>(), 0.8);
}

TEST_F(Examples, SearchRaceTakesTheFirstGoodEnoughResult) {
  auto r = run("search-race.json");
  EXPECT_EQ(r.output["top"], "CAF actor model guide");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "elastic-search");
  EXPECT_EQ(rep["runners"][0]["outcome"], "rejected");  // vector search answered first, score 0.55
  EXPECT_EQ(rep["runners"][2]["outcome"], "cancelled");  // sql search was still running
  EXPECT_LT(r.summary.wall_ms, 850);
}

TEST_F(Examples, EtlFailSoftMergesWhatSucceeded) {
  auto r = run("etl-fail-soft.json");
  EXPECT_EQ(r.output["customer"]["name"], "Ada Lovelace");
  EXPECT_EQ(r.output["validation"]["ok"], true);
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["succeeded"], 2);
  ASSERT_EQ(rep["failures"].size(), 2u);
  EXPECT_EQ(rep["failures"][0]["path"], "workflow/enrich");
  EXPECT_EQ(rep["failures"][0]["attempts"], 3);
  EXPECT_EQ(rep["failures"][1]["status"], "timed_out");
  EXPECT_EQ(r.summary.retries, 2);
}

TEST_F(Examples, QuicksortTreeSorts) {
  auto r = run("quicksort-tree.json");
  auto numbers = rt.load_file(std::string(COHORT_SOURCE_DIR) + "/examples/quicksort-tree.json").input()["numbers"];
  auto sorted = numbers.get<std::vector<int>>();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(r.output, json(sorted));
}

TEST_F(Examples, EnrichmentPipelineMergesParallelEnrichments) {
  auto r = run("enrichment-pipeline.json");
  EXPECT_NE(text(r.output).find("Rotterdam"), std::string::npos);
  EXPECT_EQ(r.summary.model_calls, 5);
}

TEST_F(Examples, SolversRaceSkipsAnInvalidFirstAnswer) {
  auto r = run("solvers-race.json");
  EXPECT_NE(text(r.output).find("x = 7"), std::string::npos);
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "creative");
  EXPECT_EQ(rep["runners"][1]["outcome"], "rejected");  // the heuristic was fast but had no SOLUTION line
  EXPECT_EQ(rep["runners"][0]["outcome"], "cancelled");
  EXPECT_LT(r.summary.wall_ms, 1400);  // did not wait for the 1.5 s algorithmic solver
}

TEST_F(Examples, ParallelStressSettlesEveryConversation) {
  auto r = run("parallel-stress.json");
  EXPECT_EQ(r.branches.succeeded + r.branches.failed, 61);  // 60 conversations + the analyst
  EXPECT_GT(r.summary.speedup, 4.0);
}

TEST_F(Examples, WriterCriticLoopRefinesUntilApproved) {
  auto r = run("writer-critic-loop.json");
  EXPECT_NE(text(r.output).find("draft 3"), std::string::npos);
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["iterations"], 3);
  EXPECT_EQ(rep["history"][0]["feedback"], "No: the opening has no example; add one.");
}

TEST_F(Examples, QuickstartRuns) { run("quickstart.json"); }
