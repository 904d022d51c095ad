// tree: recursive divide and conquer. A level whose problem is small enough (or at
// max_depth) is a base case: the leaf agent solves it, or it is its own answer.
// Otherwise the split agent cuts it into parts, each part runs as a tree level of its
// own (in parallel, one level deeper), and the combine agent joins the solved parts.
#include "run/run_events.hpp"
#include "spec/template.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

size_t size_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().size();
  return v.is_structured() ? v.size() : 0;
}

class tree_pattern : public pattern {
 public:
  tree_pattern(const workflow_node& node, const task& t, nlohmann::json problem, int depth)
      : node_(node), path_(t.path), bindings_(bindings_of(t)), problem_(std::move(problem)), depth_(depth) {
    base_ = depth_ >= node.tree.max_depth || size_of(problem_) <= static_cast<size_t>(node.tree.base_max_size);
  }

  std::optional<branch> next() override {
    if (running_ || done_) return std::nullopt;
    auto level = nlohmann::json{{"item", problem_}, {"depth", depth_}};
    if (base_) {
      if (!node_.tree.leaf) return std::nullopt;  // idle(): the problem is its own answer
      running_ = true;
      return make_branch(leaf_index, node_.tree.leaf, bindings_, "leaf", std::move(level));
    }
    if (split_.is_null()) {
      running_ = true;
      return make_branch(split_index, node_.tree.split, bindings_, "split", std::move(level));
    }
    if (started_ < parts_.size()) {
      auto i = started_++;
      return make_branch(i, child_level(), bindings_, "part[" + std::to_string(i) + "]",
                         {{"item", parts_[i]}, {"depth", depth_ + 1}});
    }
    if (settled_ == parts_.size()) {
      running_ = true;
      level["results"] = solved_;
      level["split"] = split_;
      return make_branch(combine_index, node_.tree.combine, bindings_, "combine", std::move(level));
    }
    return std::nullopt;
  }

  std::optional<result> settle(size_t index, result r) override {
    running_ = false;
    if (!r.ok()) return passed_up(r);
    if (index == leaf_index || index == combine_index) return finished(std::move(r.output));
    if (index == split_index) return split_done(std::move(r.output));
    solved_[index] = std::move(r.output);
    ++settled_;
    return std::nullopt;
  }

  result idle() override { return success(problem_); }

  nlohmann::json partial() const override { return solved_; }
  std::vector<std::string> unstarted() const override {
    std::vector<std::string> labels;
    for (auto i = started_; i < parts_.size(); ++i) labels.push_back("part[" + std::to_string(i) + "]");
    return labels;
  }

 private:
  static constexpr size_t split_index = 1u << 20, combine_index = split_index + 1, leaf_index = split_index + 2;

  // The same tree one level down; made once per level (a level owns its copy).
  node_ptr child_level() {
    if (!child_) {
      auto c = std::make_shared<workflow_node>(node_);
      c->tree.nested = true;
      child_ = std::move(c);
    }
    return child_;
  }

  // The split answers an array of parts, or {"parts": [...], ...} (the rest is kept for
  // combine as {{split}}), or {"base": value}: this level is solved as it is.
  std::optional<result> split_done(nlohmann::json out) {
    if (out.is_object() && out.contains("base")) return finished(out["base"]);
    const auto& parts = out.is_object() ? out.value("parts", nlohmann::json()) : out;
    if (!parts.is_array())
      return failure(outcome::failed, "invalid_output",
                     path_ + "/split: expected an array of parts or {\"parts\": [...]}, got " + out.dump().substr(0, 200));
    parts_ = parts.get<std::vector<nlohmann::json>>();
    solved_ = nlohmann::json::array();
    for (size_t i = 0; i < parts_.size(); ++i) solved_.push_back(nullptr);
    split_ = out.is_object() ? out : nlohmann::json{{"parts", parts}};
    return std::nullopt;
  }

  std::optional<result> finished(nlohmann::json out) {
    done_ = true;
    return success(std::move(out));
  }

  const workflow_node& node_;
  std::string path_;
  binding_chain bindings_;
  nlohmann::json problem_;
  int depth_;
  bool base_ = false;
  bool running_ = false;
  bool done_ = false;
  nlohmann::json split_;
  std::vector<nlohmann::json> parts_;
  nlohmann::json solved_ = nlohmann::json::array();
  size_t started_ = 0;
  size_t settled_ = 0;
  node_ptr child_;
};

}  // namespace

std::unique_ptr<pattern> make_tree(const workflow_node& node, const task& t, const run_context& ctx,
                                   result& error) {
  const auto& rules = node.tree;
  auto scope = make_scope(ctx, t);
  const nlohmann::json* problem = nullptr;
  try {
    problem = scope.find(template_refs("{{" + (rules.nested ? std::string("item") : rules.problem) + "}}")[0].segments);
  } catch (const template_error&) {
  }
  if (!problem) {
    error = failure(outcome::failed, "invalid_input", node.json_path + ".problem: \"" + rules.problem + "\" does not resolve");
    return nullptr;
  }
  const auto* bound_depth = find_binding(t.bindings, t.inherited.get(), "depth");
  int depth = rules.nested && bound_depth && bound_depth->is_number_integer() ? bound_depth->get<int>() : 0;
  return std::make_unique<tree_pattern>(node, t, *problem, depth);
}

}  // namespace cohort
