// Every example scenario in examples/ runs on the in-process sim model, and its twin
// test checks what the example is there to show: each assertion fails when the
// pattern it demonstrates is broken (not only when the run fails).
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/timeline.hpp"

using cohort::testing::Timeline;
using nlohmann::json;

namespace {

std::string example_path(const std::string& name) {
  return std::string(COHORT_SOURCE_DIR) + "/examples/" + name;
}

std::string text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

bool mentions(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class Examples : public ::testing::Test {
 protected:
  // One runtime for the whole suite: every example runs on it, one after another.
  static void SetUpTestSuite() { rt_ = std::make_unique<cohort::Runtime>(); }
  static void TearDownTestSuite() { rt_.reset(); }

  static cohort::Runtime& rt() { return *rt_; }

  cohort::RunResult run(const std::string& name, cohort::EventHandler on_event = nullptr) {
    auto s = rt().load_file(example_path(name));
    auto r = rt().run(s, std::nullopt, std::move(on_event));
    EXPECT_EQ(r.status, "succeeded") << name << ": " << r.error_kind << ": " << r.error;
    return r;
  }

  static std::unique_ptr<cohort::Runtime> rt_;
};

std::unique_ptr<cohort::Runtime> Examples::rt_;

}  // namespace

// Seed 004, example 1: fan_out over the languages, then analyst and synthesizer.
TEST_F(Examples, ResearchComparisonQuotesEveryLanguagesResearcher) {
  auto r = run("research-comparison.json");
  auto out = text(r.output);
  // Each researcher's findings reach the report through the analyst, in input order.
  auto python = out.find("Python: Django"), rust = out.find("Rust: Axum"), go = out.find("Go: net/http");
  ASSERT_NE(python, std::string::npos) << out;
  ASSERT_NE(rust, std::string::npos) << out;
  ASSERT_NE(go, std::string::npos) << out;
  EXPECT_LT(python, rust);
  EXPECT_LT(rust, go);
  EXPECT_TRUE(mentions(out, "Recommendation:")) << out;
  EXPECT_EQ(r.summary.model_calls, 5);
  EXPECT_EQ(r.branches.succeeded, 5);
  // Three researchers of 200-600 ms side by side, then two steps: faster than in a row.
  EXPECT_GT(r.summary.speedup, 1.2);
}

// Seed 004, example 2: 9 nodes, 4 layers, {{deps.ID}}.
TEST_F(Examples, BusinessPlanDagStartsNodesOnReadyAndPassesDeps) {
  Timeline tl;
  auto r = run("business-plan-dag.json", tl.handler());
  auto out = text(r.output);
  EXPECT_EQ(out.rfind("Refurnish business plan\n", 0), 0u) << out;
  // Text two links up the graph reaches the final node: market -> summary -> plan,
  // financials -> review_financials -> plan, operations -> review_operations -> plan,
  // and market + competition -> analysis -> both reviews -> plan.
  EXPECT_TRUE(mentions(out, "a market of EUR 480M a year in the Benelux")) << out;
  EXPECT_TRUE(mentions(out, "none offering subscriptions")) << out;
  EXPECT_TRUE(mentions(out, "plausible (break-even in month 20")) << out;
  EXPECT_TRUE(mentions(out, "workable (one refurbishing hub in Utrecht")) << out;
  EXPECT_TRUE(mentions(out, "since the subscription niche is open")) << out;

  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["layers"], json::parse(R"([["market", "competition", "financials", "operations"],
                                          ["analysis", "summary"], ["review_financials", "review_operations"], ["plan"]])"));
  ASSERT_EQ(rep["critical_path"].size(), 4u);
  EXPECT_EQ(rep["critical_path"].back(), "plan");
  EXPECT_GE(rep["efficiency"].get<double>(), 0.9);
  EXPECT_LT(rep["wall_ms"].get<double>(), rep["sequential_ms"].get<double>());
  EXPECT_EQ(r.summary.model_calls, 9);

  // Not a layer at a time: the analysis starts (its two dependencies done, ~190 ms)
  // while the operations planner of the first layer is still running (~300 ms).
  std::lock_guard<std::mutex> lock(tl.m);
  ASSERT_TRUE(tl.started.count("workflow/analysis"));
  ASSERT_TRUE(tl.finished.count("workflow/operations"));
  EXPECT_LT(tl.started["workflow/analysis"], tl.finished["workflow/operations"]);
}

// Seed 004, example 3: 15 nodes, 5 layers; six research-then-design chains.
TEST_F(Examples, FullstackArchitectureDagJoinsSixChains) {
  auto r = run("fullstack-architecture-dag.json");
  const auto& rep = r.reports.at("workflow");
  ASSERT_EQ(rep["layers"].size(), 5u);
  EXPECT_EQ(rep["layers"][0].size(), 6u);
  EXPECT_EQ(rep["layers"][1].size(), 6u);
  EXPECT_EQ(rep["layers"][2], json::array({"integration"}));
  EXPECT_EQ(rep["layers"][3], json::array({"review"}));
  EXPECT_EQ(rep["layers"][4], json::array({"documentation"}));
  ASSERT_EQ(rep["critical_path"].size(), 5u);
  EXPECT_EQ(rep["critical_path"][2], "integration");
  EXPECT_GE(rep["efficiency"].get<double>(), 0.9);
  EXPECT_EQ(r.summary.model_calls, 15);
  // Every chain's research reaches the documentation, each under its design's area.
  auto out = text(r.output);
  for (auto line : {"frontend: React with Next.js", "backend: Go services", "data: PostgreSQL",
                    "deployment: Kubernetes", "security: OIDC single sign-on", "monitoring: Prometheus",
                    "Review: approved"})
    EXPECT_TRUE(mentions(out, line)) << "missing \"" << line << "\" in\n" << out;
}

// Seed 004's coordinator: the planner writes the DAG; an invalid plan goes back to it.
TEST_F(Examples, CoordinatorPlanIsCheckedRetriedAndRunAsADag) {
  auto r = run("coordinator-plan.json");
  const auto& rep = r.reports.at("workflow");
  ASSERT_EQ(rep["attempts"].size(), 2u);
  ASSERT_EQ(rep["attempts"][0]["problems"].size(), 1u);
  EXPECT_TRUE(mentions(rep["attempts"][0]["problems"][0].get<std::string>(), "dependency cycle"))
      << rep["attempts"][0]["problems"];
  EXPECT_TRUE(rep["attempts"][1]["problems"].empty());
  EXPECT_EQ(rep["plan"]["description"], "Parallel research and analysis");
  EXPECT_EQ(rep["plan"]["agents"].size(), 5u);

  EXPECT_EQ(r.reports.at("workflow/dag")["layers"], json::parse(R"([["0", "1", "2"], ["3"], ["4"]])"));
  EXPECT_EQ(rep["dag"]["layers"], r.reports.at("workflow/dag")["layers"]);
  ASSERT_EQ(r.output.size(), 5u);  // by id: every plan node ran
  // The analyzer saw the three researchers' outputs, the synthesizer the analyzer's.
  auto analysis = text(r.output["3"]);
  EXPECT_TRUE(mentions(analysis, "Django") && mentions(analysis, "Axum") && mentions(analysis, "Gin")) << analysis;
  EXPECT_EQ(text(r.output["4"]).rfind("Recommendation: Go for most web services. Evidence: " + analysis, 0), 0u)
      << r.output["4"];
  EXPECT_EQ(r.summary.model_calls, 7);  // two plans, five agents
}

// Seed 002, example 1: weighted voters, normalised verdicts, a required majority.
TEST_F(Examples, ConsensusVoteWeighsModelsAndEndsEarly) {
  auto r = run("consensus-vote.json");
  EXPECT_EQ(r.output["normalized"], "approve");
  EXPECT_TRUE(mentions(text(r.output["winner"]), "APPROVE")) << r.output["winner"];
  EXPECT_DOUBLE_EQ(r.output["weight"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(r.output["total_weight"].get<double>(), 6.0);
  EXPECT_DOUBLE_EQ(r.output["distribution"]["reject"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r.output["confidence"].get<double>(), 0.8);
  // gpt-4 and claude-3 (2 + 2 of 6) decide it: the slow local model is cancelled.
  EXPECT_EQ(r.output["decided_early"], true);
  const auto& votes = r.output["votes"];
  ASSERT_EQ(votes.size(), 4u);
  EXPECT_EQ(votes[2]["voter"], "llama-analyzer");
  EXPECT_EQ(votes[2]["normalized"], "reject");
  EXPECT_EQ(votes[3]["voter"], "mistral-analyzer");
  EXPECT_EQ(votes[3]["status"], "cancelled");
  EXPECT_EQ(r.branches.cancelled, 1);
  EXPECT_LT(r.summary.wall_ms, 2000);  // did not wait for the 3 s local model
}

// Seed 002, example 3: the first result the judge accepts wins; the rest are cancelled.
TEST_F(Examples, SearchRaceTakesTheFirstGoodEnoughResult) {
  auto r = run("search-race.json");
  EXPECT_EQ(r.output["top"], "CAF actor model guide");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "elastic-search");
  ASSERT_EQ(rep["runners"].size(), 3u);
  EXPECT_EQ(rep["runners"][0]["outcome"], "rejected");  // vector search answered first, score 0.55
  EXPECT_TRUE(mentions(text(rep["runners"][0]["reason"]), "below 0.7")) << rep["runners"][0];
  EXPECT_EQ(rep["runners"][1]["outcome"], "won");
  EXPECT_EQ(rep["runners"][2]["outcome"], "cancelled");  // sql search was still running
  EXPECT_EQ(r.branches.cancelled, 1);
  EXPECT_LT(r.summary.wall_ms, 850);  // did not wait for the 900 ms sql search
}

// Agents that use tools: two searches at once, then the calculator, then the answer.
TEST_F(Examples, ToolResearchSearchesInParallelThenComputes) {
  std::mutex m;
  std::map<std::string, int64_t> started, finished;
  auto r = run("tool-research.json", [&](const cohort::Event& e) {
    std::lock_guard<std::mutex> lock(m);
    (e.kind == "started" ? started : finished)[e.path] = e.at_ms;
  });
  EXPECT_TRUE(mentions(text(r.output), "wind power made 14.0685")) << r.output;
  const auto& rep = r.reports.at("researcher");
  EXPECT_EQ(rep["turns"], 3);
  ASSERT_EQ(rep["calls"].size(), 3u) << rep.dump();
  EXPECT_EQ(rep["calls"][0]["tool"], "web_search");
  EXPECT_EQ(rep["calls"][2]["tool"], "calculator");
  for (const auto& c : rep["calls"]) EXPECT_EQ(c["status"], "succeeded") << c.dump();
  EXPECT_TRUE(mentions(text(rep["transcript"][1]["content"]), "4,210 TWh")) << rep["transcript"].dump();
  EXPECT_EQ(r.summary.model_calls, 5);
  // The two searches (250-400 ms each) ran at the same time.
  std::lock_guard<std::mutex> lock(m);
  EXPECT_LT(started.at("researcher/web_search#2"), finished.at("researcher/web_search#1"));
  EXPECT_LT(started.at("researcher/web_search#1"), finished.at("researcher/web_search#2"));
}

// Seed 002, example 2: fail_soft with required branches and a retried optional one.
TEST_F(Examples, EtlFailSoftMergesWhatSucceeded) {
  auto r = run("etl-fail-soft.json");
  EXPECT_EQ(r.output["customer"]["name"], "Ada Lovelace");
  EXPECT_EQ(r.output["validation"]["ok"], true);
  EXPECT_FALSE(r.output["customer"].contains("geo"));  // the geocoder timed out
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["policy"], "fail_soft");
  EXPECT_EQ(rep["succeeded"], 2);
  EXPECT_EQ(rep["failed"], 2);
  ASSERT_EQ(rep["failures"].size(), 2u);
  EXPECT_EQ(rep["failures"][0]["path"], "workflow/enrich");
  EXPECT_EQ(rep["failures"][0]["attempts"], 3);
  EXPECT_EQ(rep["failures"][1]["path"], "workflow/geocode");
  EXPECT_EQ(rep["failures"][1]["status"], "timed_out");
  EXPECT_EQ(r.summary.retries, 2);
}

// Seed 001: quicksort as a tree of partition / concat tools.
TEST_F(Examples, QuicksortTreeSorts) {
  auto s = rt().load_file(example_path("quicksort-tree.json"));
  auto sorted = s.input()["numbers"].get<std::vector<int>>();
  std::sort(sorted.begin(), sorted.end());
  auto r = run("quicksort-tree.json");
  EXPECT_EQ(r.output, json(sorted));
  EXPECT_EQ(r.summary.model_calls, 0);
  // Another list through the same scenario (--input): duplicates, negatives, one element per level.
  json other = {{"numbers", {5, -1, 5, 12, 0, 7, 7, -8, 3, 100, 42, 1}}};
  auto r2 = rt().run(s, other);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.output, json::parse("[-8, -1, 0, 1, 3, 5, 5, 7, 7, 12, 42, 100]"));
}

// Seed 001: validate, three enrichers in parallel (deep-merged), aggregate.
TEST_F(Examples, EnrichmentPipelineMergesParallelEnrichments) {
  Timeline tl;
  auto r = run("enrichment-pipeline.json", tl.handler());
  // The aggregator's rule reads all three enrichments from the merged object.
  EXPECT_EQ(r.output,
            "Profile of Acme Freight: a 1200-employee logistics company running postgres and kafka; "
            "latest news: opened a hub in Rotterdam.");
  EXPECT_EQ(r.summary.model_calls, 5);
  // The three enrichers ran side by side: each started before any of them finished.
  std::lock_guard<std::mutex> lock(tl.m);
  int64_t last_start = 0, first_finish = std::numeric_limits<int64_t>::max();
  for (auto e : {"enricher_1", "enricher_2", "enricher_3"}) {
    auto path = std::string("workflow/enrich/") + e;
    ASSERT_TRUE(tl.started.count(path) && tl.finished.count(path)) << path;
    last_start = std::max(last_start, tl.started[path]);
    first_finish = std::min(first_finish, tl.finished[path]);
  }
  EXPECT_LT(last_start, first_finish);
}

// Seed 003: competitive solvers; the first solution the verifier accepts wins.
TEST_F(Examples, SolversRaceSkipsAnInvalidFirstAnswer) {
  auto r = run("solvers-race.json");
  EXPECT_TRUE(mentions(text(r.output), "SOLUTION: x = 7")) << r.output;
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["winner"], "creative");
  EXPECT_EQ(rep["runners"][1]["outcome"], "rejected");  // the heuristic was fast but had no SOLUTION line
  EXPECT_EQ(rep["runners"][0]["outcome"], "cancelled");
  EXPECT_EQ(rep["runners"][2]["outcome"], "won");
  EXPECT_LT(r.summary.wall_ms, 1400);  // did not wait for the 1.5 s algorithmic solver
}

// Seed 003: 3 personas x 20 messages, at most 8 messages (24 conversations) at a time.
TEST_F(Examples, ParallelStressSettlesEveryConversation) {
  Timeline tl;
  auto r = run("parallel-stress.json", tl.handler());
  EXPECT_EQ(r.branches.succeeded + r.branches.failed, 61);  // 60 conversations + the analyst
  EXPECT_EQ(r.branches.timed_out + r.branches.cancelled, 0);
  EXPECT_EQ(r.reports.at("workflow/attacks")["succeeded"], 20);
  // Every persona failure is reported by its message's fan_out, all settled.
  int64_t reported_failures = 0;
  for (auto& [path, rep] : r.reports.items())
    if (path.rfind("workflow/attacks/do[", 0) == 0) reported_failures += rep["failures"].size();
  EXPECT_EQ(reported_failures, r.branches.failed);
  EXPECT_GT(r.summary.speedup, 4.0);

  // max_concurrency 8 on the messages: never more than 24 personas in flight.
  auto most = tl.most_in_flight();
  EXPECT_EQ(tl.leaf_edges.size(), 122u);  // 61 leaves started and finished
  EXPECT_LE(most, 24);
  EXPECT_GE(most, 12);  // and they did run in parallel
}

// A loop whose judge says no to the first draft and yes to the second.
TEST_F(Examples, WriterCriticLoopFollowsTheCriticsFeedback) {
  auto r = run("writer-critic-loop.json");
  const auto& rep = r.reports.at("workflow");
  EXPECT_EQ(rep["iterations"], 2);
  EXPECT_EQ(rep["accepted"], true);
  ASSERT_EQ(rep["history"].size(), 2u);
  EXPECT_EQ(rep["history"][0]["accepted"], false);
  EXPECT_TRUE(mentions(rep["history"][0]["feedback"].get<std::string>(), "add a concrete example"));
  EXPECT_EQ(rep["history"][1]["accepted"], true);
  // The second draft exists only when the critic's feedback reached the writer.
  EXPECT_TRUE(mentions(text(r.output), "For example, three researchers")) << r.output;
  EXPECT_EQ(r.summary.model_calls, 4);
}

// Seeds 003 and 001: primary times out, backup fails (retried), local model answers.
TEST_F(Examples, FallbackTriesAlternativesInOrder) {
  auto r = run("fallback.json");
  EXPECT_EQ(r.output,
            "Summary: checkout failed for 18 minutes because of a bad payment-gateway config push; "
            "rolled back, config validation added to CI.");
  const auto& attempts = r.reports.at("workflow")["attempts"];
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0]["alternative"], "primary");
  EXPECT_EQ(attempts[0]["outcome"], "timed_out");
  EXPECT_EQ(attempts[1]["alternative"], "backup");
  EXPECT_EQ(attempts[1]["outcome"], "failed");
  EXPECT_EQ(attempts[2]["alternative"], "local");
  EXPECT_EQ(attempts[2]["outcome"], "succeeded");
  EXPECT_EQ(r.summary.retries, 1);
  // One after another: the 500 ms deadline, then the backup, then the local model;
  // never the primary's 5 s.
  EXPECT_GE(r.summary.wall_ms, 600);
  EXPECT_LT(r.summary.wall_ms, 2500);
}

TEST_F(Examples, QuickstartRuns) {
  auto r = run("quickstart.json");
  EXPECT_EQ(r.summary.model_calls, 6);
}

// Seed 000: analyzers send to the aggregator and meet it at a barrier first.
TEST_F(Examples, AnalyzersBarrierAggregatorHearsEveryAnalyzer) {
  auto r = run("analyzers-barrier.json");
  auto synthesis = text(r.output[1]);
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(mentions(synthesis, "\"from\":\"analyzer-" + std::to_string(i) + "\"")) << synthesis;
  EXPECT_EQ(r.summary.model_calls, 5);
}

// Seed 003: three planners exchange proposals until all propose the same.
TEST_F(Examples, ConsensusSimulationEndsWhenAllAgree) {
  auto r = run("consensus-simulation.json");
  EXPECT_EQ(r.output["stopped"], "agreed");
  EXPECT_LT(r.output["rounds"].get<int>(), 12);
  std::set<std::string> proposals;
  for (auto& [name, self] : r.output["agents"].items()) proposals.insert(self["proposal"].get<std::string>());
  EXPECT_EQ(proposals.size(), 1u) << r.output["agents"].dump();
  // Everyone heard its two peers in every round after the first.
  const auto& last = r.output["transcript"].back();
  EXPECT_EQ(last["messages"].size(), 6u);
}

// 1,000 citizens on the sim model for 10 rounds; the census counts every one.
TEST_F(Examples, OpinionDynamicsCountsAThousandCitizens) {
  auto r = run("opinion-dynamics.json");
  EXPECT_EQ(r.output["rounds"], 10);
  const auto& world = r.output["world"];
  EXPECT_EQ(world.value("red", 0) + world.value("blue", 0), 1000) << world.dump();
  EXPECT_GT(world.value("red", 0), 0);
  EXPECT_GT(world.value("blue", 0), 0);
  EXPECT_EQ(r.reports["workflow"]["messages"], 40000);  // 4 neighbours each, 10 rounds
  EXPECT_EQ(r.summary.model_calls, 10000);
}

// Every example in examples/ is valid (the HTTP quickstart too) and has a test above.
TEST_F(Examples, EveryExampleLoads) {
  for (auto name : {"research-comparison.json", "business-plan-dag.json", "fullstack-architecture-dag.json",
                    "coordinator-plan.json", "consensus-vote.json", "search-race.json", "etl-fail-soft.json",
                    "quicksort-tree.json", "enrichment-pipeline.json", "solvers-race.json", "parallel-stress.json",
                    "writer-critic-loop.json", "fallback.json", "quickstart.json", "quickstart-http.json",
                    "analyzers-barrier.json", "consensus-simulation.json", "opinion-dynamics.json"})
    EXPECT_NO_THROW(rt().load_file(example_path(name))) << name;
}
