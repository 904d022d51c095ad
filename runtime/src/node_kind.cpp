// The names of the node kinds: what a scenario's "type" says, what events and usage
// rows call a pattern. One list, so the loader and the engine cannot disagree.
#include <array>
#include <utility>

#include "runtime/src/scenario.hpp"

namespace cohort {
namespace {

constexpr std::array<std::pair<node_kind, const char*>, 11> kinds{{
    {node_kind::agent, "agent"},
    {node_kind::pipeline, "pipeline"},
    {node_kind::fan_out, "fan_out"},
    {node_kind::race, "race"},
    {node_kind::vote, "vote"},
    {node_kind::dag, "dag"},
    {node_kind::plan, "plan"},
    {node_kind::tree, "tree"},
    {node_kind::fallback, "fallback"},
    {node_kind::loop, "loop"},
    {node_kind::simulation, "simulation"},
}};

}  // namespace

const char* to_string(node_kind k) {
  for (const auto& [kind, name] : kinds)
    if (kind == k) return name;
  return "agent";
}

std::optional<node_kind> parse_node_kind(std::string_view type) {
  for (const auto& [kind, name] : kinds)
    if (type == name) return kind;
  return std::nullopt;
}

const std::string& node_kind_names() {
  static const std::string names = [] {
    std::string all;
    for (const auto& [kind, name] : kinds) all += (all.empty() ? "" : ", ") + std::string(name);
    return all;
  }();
  return names;
}

}  // namespace cohort
