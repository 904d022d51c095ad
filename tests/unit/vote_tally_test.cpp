// Counting a vote without a runtime: normalising, weights, deciding early, majority.
#include <gtest/gtest.h>

#include "run/run_events.hpp"
#include "workflow/vote_tally.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;

TEST(VoteTallyUnit, NormalisedAnswersAddTheirWeights) {
  vote_rules rules;  // trim and fold case
  vote_tally t(rules, {"a", "b", "c"}, {1, 1, 1.5});
  t.cast(0, json("  Yes"));
  t.cast(1, json("no"));
  EXPECT_FALSE(t.decided());
  t.cast(2, json("YES "));
  ASSERT_TRUE(t.decided());
  auto r = t.outcome_at("root");
  ASSERT_TRUE(r.ok()) << r.error.message;
  EXPECT_EQ(r.output["normalized"], "yes");
  EXPECT_EQ(r.output["winner"], "  Yes");  // the first voter's own answer
  EXPECT_DOUBLE_EQ(r.output["weight"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(r.output["confidence"].get<double>(), 2.5 / 3.5);
  EXPECT_EQ(r.output["decided_early"], false);
}

TEST(VoteTallyUnit, DecidedOnceTheRestCannotCatchUp) {
  vote_rules rules;
  vote_tally t(rules, {"a", "b", "c", "d"}, {1, 1, 1, 1});
  t.cast(0, json("x"));
  t.cast(1, json("x"));
  EXPECT_FALSE(t.decided());  // 2 : 0 with 2 to come could still tie
  t.cast(2, json("x"));
  EXPECT_TRUE(t.decided());
  auto r = t.outcome_at("root");
  EXPECT_EQ(r.output["decided_early"], true);
  EXPECT_EQ(r.output["votes"][3]["status"], "cancelled");
}

TEST(VoteTallyUnit, ATieGoesToTheFirstDeclaredVoter) {
  vote_rules rules;
  vote_tally t(rules, {"a", "b"}, {1, 1});
  t.cast(1, json("late-declared"));
  t.cast(0, json("first-declared"));
  EXPECT_EQ(t.outcome_at("root").output["normalized"], "first-declared");
}

TEST(VoteTallyUnit, AFieldOrRegexPicksTheAnswerAndAMissOnlyLosesThatVote) {
  vote_rules rules;
  rules.field = "label";
  vote_tally t(rules, {"a", "b", "c"}, {1, 1, 1});
  t.cast(0, json{{"label", "cat"}});
  t.cast(1, json{{"other", "dog"}});  // no field: no vote, with the reason
  t.abstain(2, failure(outcome::timed_out, "timeout", "slow"));
  auto r = t.outcome_at("root");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output["normalized"], "cat");
  EXPECT_NE(r.output["votes"][1]["error"].get<std::string>().find("label"), std::string::npos);
  EXPECT_EQ(r.output["votes"][2]["status"], "no vote");

  vote_rules by_regex;
  by_regex.regex = cohort::regex("answer: (\\w+)");
  vote_tally u(by_regex, {"a"}, {1});
  u.cast(0, json("the answer: Blue, surely"));
  EXPECT_EQ(u.outcome_at("root").output["normalized"], "blue");
}

TEST(VoteTallyUnit, RequireMajorityFailsWithTheDistribution) {
  vote_rules rules;
  rules.require_majority = true;
  vote_tally t(rules, {"a", "b", "c", "d"}, {1, 1, 1, 1});
  t.cast(0, json("x"));
  t.cast(1, json("x"));
  t.cast(2, json("y"));
  t.cast(3, json("z"));
  auto r = t.outcome_at("root");
  EXPECT_EQ(r.error.kind, "no_majority");
  EXPECT_NE(r.error.message.find("\"x\": 2"), std::string::npos) << r.error.message;
  EXPECT_EQ(r.output["distribution"]["y"], 1.0);
}

TEST(VoteTallyUnit, NoUsableAnswerIsNoVotes) {
  vote_rules rules;
  vote_tally t(rules, {"a"}, {1});
  t.abstain(0, failure(outcome::failed, "model_error", "down"));
  EXPECT_EQ(t.outcome_at("root").error.kind, "no_votes");
}

}  // namespace
}  // namespace cohort
