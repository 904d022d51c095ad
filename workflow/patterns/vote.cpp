// vote: every voter answers the same task; answers are normalised and weighed
// (vote_tally.hpp). Once no vote still to come can change the outcome, the remaining
// voters are cancelled. A voter that fails only loses its vote.
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"
#include "workflow/vote_tally.hpp"

namespace cohort {
namespace {

std::vector<std::string> labels(const workflow_node& node) {
  std::vector<std::string> out;
  for (auto& c : node.children) out.push_back(c->label);
  return out;
}

std::vector<double> weights(const workflow_node& node) {
  std::vector<double> out;
  for (auto& c : node.children) out.push_back(c->weight);
  return out;
}

class vote_pattern : public pattern {
 public:
  vote_pattern(const workflow_node& node, const task& t)
      : node_(node), path_(t.path), bindings_(bindings_of(t)), tally_(node.vote, labels(node), weights(node)) {}

  std::optional<branch> next() override {
    if (started_ >= node_.children.size()) return std::nullopt;
    auto i = started_++;
    return make_branch(i, node_.children[i], bindings_, node_.children[i]->label);
  }

  std::optional<result> settle(size_t index, result r) override {
    if (r.ok()) tally_.cast(index, r.output);
    else tally_.abstain(index, r);
    if (!tally_.decided()) return std::nullopt;
    return tally_.outcome_at(path_);
  }

  result idle() override { return tally_.outcome_at(path_); }
  nlohmann::json partial() const override { return tally_.outcome_at(path_).output; }
  std::vector<std::string> unstarted() const override { return labels_from(node_.children, started_); }

 private:
  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  vote_tally tally_;
  size_t started_ = 0;
};

}  // namespace

std::unique_ptr<pattern> make_vote(const workflow_node& node, const task& t) {
  return std::make_unique<vote_pattern>(node, t);
}

}  // namespace cohort
