// dag: nodes with depends_on. Each node starts the moment its own dependencies are
// done (never a whole layer at a time) and sees their outputs as {{deps.ID}}. The report
// gives the topological layers, the critical path and the efficiency: the critical
// path's time over the wall time (1.0 = no scheduling delay at all).
//
// Failures follow the node's policy (failure_policy.hpp). When the DAG goes on after a
// failure, the nodes that depend on the failed one are skipped (they end cancelled,
// reported as dependency_failed), unless it was marked `required: false`: then they
// run and see its output as null.
#include <deque>

#include "run/run_events.hpp"
#include "spec/dag_graph.hpp"
#include "workflow/failure_policy.hpp"
#include "workflow/fan_in.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

class dag_pattern : public pattern {
 public:
  dag_pattern(const workflow_node& node, const task& t)
      : node_(node), path_(t.path), bindings_(bindings_of(t)), combine_(node, t.path, bindings_),
        count_(node.children.size()), policy_(node, t.path, count_), waiting_(count_), dependents_(count_),
        outputs_(count_), ok_(count_, false), skipped_(count_, false), start_us_(count_, 0), duration_us_(count_, 0), begin_us_(now_us()) {
    for (size_t i = 0; i < count_; ++i) {
      waiting_[i] = node.deps[i].size();
      for (auto d : node.deps[i]) dependents_[d].push_back(i);
      if (waiting_[i] == 0) ready_.push_back(i);
    }
  }

  std::optional<branch> next() override {
    if (ready_.empty()) return combining_ ? combine_.next_step(count_ + steps_++) : std::nullopt;
    auto i = ready_.front();
    ready_.pop_front();
    auto deps = nlohmann::json::object();
    for (auto d : node_.deps[i]) deps[node_.ids[d]] = outputs_[d];
    start_us_[i] = now_us();
    auto b = make_branch(i, node_.children[i], bindings_, node_.ids[i]);
    b.bindings["deps"] = std::move(deps);
    return b;
  }

  std::optional<result> settle(size_t index, result r) override {
    if (index >= count_) return combine_.step_done(std::move(r));
    duration_us_[index] = now_us() - start_us_[index];
    ++settled_;
    if (r.ok()) {
      policy_.succeeded();
      ok_[index] = true;
      outputs_[index] = std::move(r.output);
    } else {
      if (auto verdict = policy_.failed(index, node_.ids[index], *node_.children[index], r)) return verdict;
      if (node_.children[index]->required != 0)
        if (auto verdict = skip_dependents(index)) return verdict;
    }
    for (auto n : dependents_[index])
      if (--waiting_[n] == 0 && !skipped_[n]) ready_.push_back(n);
    if (settled_ < count_) return std::nullopt;
    end_us_ = now_us();
    if (auto verdict = policy_.at_end()) return verdict;
    return combine();
  }

  result idle() override {
    return failure(outcome::failed, "invalid_input", path_ + ": no node can start (a dependency cycle?)");
  }

  // Everything downstream of a failed node: it cannot run. Each counts as a failure
  // of its own for the policy (a required one fails the DAG).
  std::optional<result> skip_dependents(size_t failed) {
    std::vector<size_t> todo(dependents_[failed].begin(), dependents_[failed].end());
    while (!todo.empty()) {
      auto n = todo.back();
      todo.pop_back();
      if (skipped_[n]) continue;
      skipped_[n] = true;
      ++settled_;
      auto r = failure(outcome::cancelled, "dependency_failed",
                       path_ + "/" + node_.ids[n] + ": not run: its dependency " + node_.ids[failed] + " failed");
      if (auto verdict = policy_.failed(n, node_.ids[n], *node_.children[n], r)) return verdict;
      todo.insert(todo.end(), dependents_[n].begin(), dependents_[n].end());
    }
    return std::nullopt;
  }

  nlohmann::json partial() const override {
    auto out = nlohmann::json::object();
    for (size_t i = 0; i < count_; ++i)
      if (ok_[i]) out[node_.ids[i]] = outputs_[i];
    return out;
  }

  // A node whose answer crossed the cancel: its output joins the partial one.
  bool keep_late(size_t index, result& r) override {
    if (index >= count_ || combining_ || ok_[index]) return false;
    outputs_[index] = std::move(r.output);
    ok_[index] = true;
    return true;
  }

  std::vector<std::string> unstarted() const override {
    std::vector<std::string> labels;
    for (size_t i = 0; i < count_; ++i)
      if (start_us_[i] == 0) labels.push_back(node_.ids[i]);
    return labels;
  }

  nlohmann::json report() override {
    auto named = [&](const std::vector<size_t>& nodes) {
      auto a = nlohmann::json::array();
      for (auto n : nodes) a.push_back(node_.ids[n]);
      return a;
    };
    auto layers = nlohmann::json::array();
    for (auto& layer : topological_layers(node_.deps)) layers.push_back(named(layer));
    nlohmann::json r{{"layers", std::move(layers)}};
    if (auto failures = policy_.report(); !failures.is_null()) r.update(failures);
    if (end_us_ == 0) return r;  // did not finish: no timing to speak of
    std::vector<double> durations(duration_us_.begin(), duration_us_.end());
    auto path = critical_path(node_.deps, durations);
    double path_us = 0, sequential_us = 0;
    for (auto n : path) path_us += durations[n];
    for (auto d : durations) sequential_us += d;
    auto wall_us = static_cast<double>(end_us_ - begin_us_);
    r["critical_path"] = named(path);
    r["critical_path_ms"] = path_us / 1000.0;
    r["wall_ms"] = wall_us / 1000.0;
    r["sequential_ms"] = sequential_us / 1000.0;
    r["efficiency"] = wall_us > 0 ? path_us / wall_us : 1.0;
    return r;
  }

 private:
  std::optional<result> combine() {
    combining_ = true;
    if (!node_.output_of.empty()) {
      auto it = std::find(node_.ids.begin(), node_.ids.end(), node_.output_of);
      auto i = static_cast<size_t>(it - node_.ids.begin());
      if (!ok_[i])
        return failure(outcome::failed, "output_failed", path_ + ": the output node " + node_.output_of + " did not succeed");
      return success(outputs_[i]);
    }
    std::vector<double> weights;
    for (auto& c : node_.children) weights.push_back(c->weight);
    return combine_.start(outputs_, node_.ids, std::move(weights));
  }

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  fan_in combine_;
  size_t count_;
  failure_policy policy_;
  std::vector<size_t> waiting_;                  // unfinished dependencies per node
  std::vector<std::vector<size_t>> dependents_;  // who waits for each node
  std::deque<size_t> ready_;
  std::vector<nlohmann::json> outputs_;
  std::vector<bool> ok_;                         // succeeded
  std::vector<bool> skipped_;                    // downstream of a failure: never runs
  std::vector<int64_t> start_us_;
  std::vector<int64_t> duration_us_;
  int64_t begin_us_;
  int64_t end_us_ = 0;
  size_t settled_ = 0;
  size_t steps_ = 0;
  bool combining_ = false;
};

}  // namespace

std::unique_ptr<pattern> make_dag(const workflow_node& node, const task& t) {
  return std::make_unique<dag_pattern>(node, t);
}

}  // namespace cohort
