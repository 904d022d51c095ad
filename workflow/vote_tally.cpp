#include "workflow/vote_tally.hpp"

#include <algorithm>
#include <cctype>

#include "messages/input_limits.hpp"
#include "run/run_events.hpp"
#include "spec/template.hpp"

namespace cohort {

vote_tally::vote_tally(const vote_rules& rules, std::vector<std::string> voters, std::vector<double> weights)
    : rules_(rules), voters_(std::move(voters)), weights_(std::move(weights)), ballots_(voters_.size()) {
  for (auto w : weights_) total_ += w;
  pending_ = total_;
}

std::string vote_tally::normalise(const nlohmann::json& answer, std::string& error) const {
  nlohmann::json value = answer;
  if (!rules_.field.empty()) {
    if (value.is_string()) value = parse_untrusted_json_or_discarded(value.get<std::string>());
    if (!value.is_object() || !value.contains(rules_.field)) {
      error = "the answer has no field \"" + rules_.field + "\"";
      return {};
    }
    value = value[rules_.field];
  }
  auto text = to_prompt_text(value);
  if (!rules_.regex.empty()) {
    auto m = rules_.regex.search(text);
    if (!m) {
      error = "the answer does not match /" + rules_.regex.pattern() + "/";
      return {};
    }
    // The first group that took part (in "(yes|no)|(maybe)" only one does), else the whole match.
    auto group = std::find_if(m->begin() + 1, m->end(), [](const std::string& g) { return !g.empty(); });
    text = group != m->end() ? *group : (*m)[0];
  }
  if (rules_.trim) {
    auto b = text.find_first_not_of(" \t\r\n.");
    auto e = text.find_last_not_of(" \t\r\n.");
    text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  }
  if (rules_.fold_case)
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

void vote_tally::cast(size_t voter, const nlohmann::json& answer) {
  auto& b = ballots_[voter];
  if (b.state != ballot::pending) return;
  pending_ -= weights_[voter];
  b.answer = answer;
  b.key = normalise(answer, b.error);
  b.state = b.error.empty() ? ballot::cast : ballot::abstained;
  if (b.state != ballot::cast) return;
  weight_[b.key] += weights_[voter];
  auto [it, fresh] = first_voter_.emplace(b.key, voter);
  if (!fresh && voter < it->second) it->second = voter;
}

void vote_tally::abstain(size_t voter, const result& r) {
  auto& b = ballots_[voter];
  if (b.state != ballot::pending) return;
  pending_ -= weights_[voter];
  b.state = ballot::abstained;
  b.error = std::string(to_string(r.status)) + ": " + r.error.message;
}

vote_tally::standing vote_tally::stand() const {
  standing s;
  for (auto& [key, w] : weight_) {
    bool ahead = !s.leader || w > s.lead || (w == s.lead && first_voter_.at(key) < first_voter_.at(*s.leader));
    if (ahead) {
      if (s.leader) s.second = std::max(s.second, s.lead);
      s.leader = key;
      s.lead = w;
    } else {
      s.second = std::max(s.second, w);
    }
  }
  return s;
}

bool vote_tally::decided() const {
  if (pending_ <= 0) return true;
  auto s = stand();
  if (rules_.require_majority)
    return s.lead > total_ / 2 || s.lead + pending_ <= total_ / 2;
  // The votes still to come all going to the runner-up (or to a new answer) cannot catch up.
  return s.leader && s.lead > s.second + pending_;
}

result vote_tally::outcome_at(const std::string& path) const {
  auto s = stand();
  std::map<std::string, double> distribution;
  double cast_weight = 0;
  auto votes = nlohmann::json::array();
  nlohmann::json winner;
  for (size_t i = 0; i < ballots_.size(); ++i) {
    const auto& b = ballots_[i];
    nlohmann::json v{{"voter", voters_[i]}, {"weight", weights_[i]}};
    if (b.state == ballot::cast) {
      distribution[b.key] += weights_[i];
      cast_weight += weights_[i];
      v["answer"] = b.answer;
      v["normalized"] = b.key;
      if (s.leader && b.key == *s.leader && winner.is_null()) winner = b.answer;
    } else {
      v["status"] = b.state == ballot::pending ? "cancelled" : "no vote";
      if (!b.error.empty()) v["error"] = b.error;
    }
    votes.push_back(std::move(v));
  }
  auto dist_text = [&] {
    std::string t;
    for (auto& [k, w] : distribution) t += (t.empty() ? "" : ", ") + ("\"" + k + "\": " + nlohmann::json(w).dump());
    return t.empty() ? std::string("no votes") : t;
  };
  if (!s.leader && !(rules_.require_majority && pending_ > 0)) {
    auto r = failure(outcome::failed, "no_votes", path + ": no voter gave a usable answer");
    r.output = {{"votes", votes}};
    return r;
  }
  if (rules_.require_majority && !(s.lead > total_ / 2)) {
    auto leader = s.leader ? "the leader \"" + *s.leader + "\" has " : std::string("no answer has ");
    auto r = failure(outcome::failed, "no_majority",
                     path + ": no majority: " + leader + nlohmann::json(s.lead).dump() +
                         " of " + nlohmann::json(total_).dump() + " total weight, more than half needed (" +
                         dist_text() + ")");
    r.output = {{"distribution", distribution}, {"votes", votes}};
    return r;
  }
  result r;
  r.output = {{"winner", winner},
              {"normalized", *s.leader},
              {"weight", s.lead},
              {"confidence", cast_weight > 0 ? s.lead / cast_weight : 0.0},
              {"total_weight", total_},
              {"distribution", distribution},
              {"votes", votes},
              {"decided_early", pending_ > 0}};
  return r;
}

}  // namespace cohort
