// race: the same task to every runner; the first result that passes the acceptance
// checks (and the judge agent, when there is one) wins, and the engine cancels every
// other runner at once, closing their in-flight model calls. No valid result: an
// error listing each runner's outcome.
#include <map>

#include "agents/acceptance_check.hpp"
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class race_pattern : public pattern {
 public:
  race_pattern(const workflow_node& node, const task& t)
      : node_(node), path_(t.path), bindings_(bindings_of(t)), outcomes_(node.children.size()) {}

  std::optional<branch> next() override {
    if (started_ < count()) {
      auto i = started_++;
      return make_branch(i, node_.children[i], bindings_, node_.children[i]->label);
    }
    if (!to_judge_.empty()) {
      auto runner = to_judge_.front();
      to_judge_.erase(to_judge_.begin());
      return make_branch(count() + runner, node_.accept.judge, bindings_,
                         "judge[" + node_.children[runner]->label + "]",
                         {{"candidate", candidates_[runner]}, {"iteration", 1}});
    }
    return std::nullopt;
  }

  std::optional<result> settle(size_t index, result r) override {
    if (index >= count()) return judged(index - count(), std::move(r));
    if (!r.ok()) return lost(index, to_string(r.status), r.error.message);
    auto why = rejection(node_.accept, r.output);
    if (!why.empty()) return lost(index, "rejected", why);
    if (!node_.accept.judge) return won(index, std::move(r.output));
    candidates_[index] = std::move(r.output);
    to_judge_.push_back(index);
    return std::nullopt;
  }

  result idle() override { return no_winner(); }
  nlohmann::json partial() const override { return nullptr; }
  std::vector<std::string> unstarted() const override { return labels_from(node_.children, started_); }

  nlohmann::json report() override {
    auto runners = nlohmann::json::array();
    for (size_t i = 0; i < count(); ++i) {
      nlohmann::json o{{"runner", node_.children[i]->label},
                       {"outcome", !outcomes_[i].first.empty() ? outcomes_[i].first
                                   : candidates_.count(i) ? "unjudged" : "cancelled"}};
      if (!outcomes_[i].second.empty()) o["reason"] = outcomes_[i].second;
      runners.push_back(std::move(o));
    }
    nlohmann::json r{{"runners", runners}};
    if (winner_) r["winner"] = node_.children[*winner_]->label;
    return r;
  }

 private:
  size_t count() const { return node_.children.size(); }

  std::optional<result> judged(size_t runner, result r) {
    if (!r.ok()) return lost(runner, "rejected", "the judge failed: " + r.error.message);
    auto v = read_verdict(r.output);
    if (!v.pass) return lost(runner, "rejected", "the judge said: " + v.feedback.substr(0, 200));
    return won(runner, std::move(candidates_[runner]));
  }

  std::optional<result> won(size_t runner, nlohmann::json output) {
    outcomes_[runner] = {"won", ""};
    winner_ = runner;
    return success(std::move(output));
  }

  std::optional<result> lost(size_t runner, std::string how, std::string why) {
    outcomes_[runner] = {std::move(how), std::move(why)};
    if (++lost_ < count()) return std::nullopt;
    return no_winner();
  }

  result no_winner() const {
    std::string list;
    for (size_t i = 0; i < count(); ++i)
      list += "\n    " + node_.children[i]->label + ": " + outcomes_[i].first +
              (outcomes_[i].second.empty() ? "" : " (" + outcomes_[i].second + ")");
    return failure(outcome::failed, "no_valid_result", path_ + ": no runner gave a valid result:" + list);
  }

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  size_t started_ = 0;
  size_t lost_ = 0;
  std::vector<std::pair<std::string, std::string>> outcomes_;  // (outcome, reason) per runner
  std::map<size_t, nlohmann::json> candidates_;               // waiting for the judge
  std::vector<size_t> to_judge_;
  std::optional<size_t> winner_;
};

}  // namespace

std::unique_ptr<pattern> make_race(const workflow_node& node, const task& t) {
  return std::make_unique<race_pattern>(node, t);
}

}  // namespace cohort
