#include "workflow/pattern.hpp"

#include "run/run_events.hpp"

namespace cohort {

std::unique_ptr<pattern> make_pattern(const workflow_node& node, const task& t, const run_context& ctx,
                                      result& error) {
  switch (node.kind) {
    case node_kind::fan_out: return make_fan_out(node, t, ctx, error);
    case node_kind::pipeline: return make_pipeline(node, t);
    case node_kind::race: return make_race(node, t);
    case node_kind::vote: return make_vote(node, t);
    case node_kind::dag: return make_dag(node, t);
    case node_kind::plan: return make_plan(node, t);
    case node_kind::tree: return make_tree(node, t, ctx, error);
    case node_kind::fallback: return make_fallback(node, t);
    case node_kind::loop: return make_loop(node, t);
    case node_kind::simulation: return make_simulation(node, t, ctx, error);
    case node_kind::tool_loop: return make_tool_loop(node, t, ctx);
    case node_kind::agent: break;
  }
  error = failure(outcome::failed, "invalid_input", node.json_path + ": an agent is not a pattern");
  return nullptr;
}

branch make_branch(size_t index, node_ptr node, const binding_chain& inherited, std::string label,
                   nlohmann::json extra) {
  branch b;
  b.index = index;
  b.node = std::move(node);
  b.bindings = extra.is_object() ? std::move(extra) : nlohmann::json::object();
  b.inherited = inherited;
  b.label = std::move(label);
  return b;
}

binding_chain bindings_of(const task& t) { return push_bindings(t.bindings, t.inherited); }

std::vector<std::string> labels_from(const std::vector<node_ptr>& children, size_t from) {
  std::vector<std::string> labels;
  for (auto i = from; i < children.size(); ++i) labels.push_back(children[i]->label);
  return labels;
}

result success(nlohmann::json output) {
  result r;
  r.output = std::move(output);
  return r;
}

result passed_up(const result& r) {
  result out;
  out.status = r.status;
  out.error = r.error;
  return out;
}

}  // namespace cohort
