#pragma once
// Counting a weighted vote: answers are normalised (a JSON field, a regex group, trim,
// case-fold), weights add up per answer, and the tally knows when no vote still to
// come can change the winner, so the rest can be cancelled.
//
// Tie-break: among answers of equal weight, the one given by the voter declared first.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/result.hpp"
#include "spec/scenario.hpp"

namespace cohort {

class vote_tally {
 public:
  vote_tally(const vote_rules& rules, std::vector<std::string> voters, std::vector<double> weights);

  void cast(size_t voter, const nlohmann::json& answer);
  void abstain(size_t voter, const result& r);  // failed, timed out: its weight is lost

  // Nothing still to come can change the outcome (a winner, or "no majority").
  bool decided() const;

  // The winner, confidence, distribution and every vote; or the "no majority" error.
  // `path` names the vote in errors. Voters that never answered are listed as cancelled.
  result outcome_at(const std::string& path) const;

 private:
  struct ballot {
    enum state_t { pending, cast, abstained } state = pending;
    nlohmann::json answer;
    std::string key;     // the normalised answer
    std::string error;
  };
  std::string normalise(const nlohmann::json& answer, std::string& error) const;
  // The answer ahead (by weight, then tie-break), its weight, and the runner-up's weight.
  struct standing {
    std::optional<std::string> leader;
    double lead = 0, second = 0;
  };
  standing stand() const;

  const vote_rules& rules_;
  std::vector<std::string> voters_;
  std::vector<double> weights_;
  std::vector<ballot> ballots_;
  std::map<std::string, double> weight_;       // per normalised answer
  std::map<std::string, size_t> first_voter_;  // the first declared voter of each answer
  double total_ = 0;
  double pending_ = 0;   // the weight of the voters still to answer
};

}  // namespace cohort
