// The names of the scenario format's closed sets: one table a set, read both ways.
#include "spec/vocabulary.hpp"

#include <array>
#include <utility>

namespace cohort {
namespace {

template <class E, size_t N>
using names = std::array<std::pair<E, const char*>, N>;

constexpr names<node_kind, 12> node_kinds{{
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
    {node_kind::tool_loop, "tool_loop"},
}};
constexpr names<failure_mode, 3> failure_modes{{
    {failure_mode::fail_fast, "fail_fast"},
    {failure_mode::fail_soft, "fail_soft"},
    {failure_mode::all_settled, "all_settled"},
}};
constexpr names<aggregation_kind, 8> aggregation_kinds{{
    {aggregation_kind::collect, "collect"},
    {aggregation_kind::join, "join"},
    {aggregation_kind::merge, "merge"},
    {aggregation_kind::reduce, "reduce"},
    {aggregation_kind::first, "first"},
    {aggregation_kind::vote, "vote"},
    {aggregation_kind::synthesize, "synthesize"},
    {aggregation_kind::by_id, "by_id"},
}};
constexpr names<merge_mode, 3> merge_modes{{
    {merge_mode::deep, "deep"},
    {merge_mode::shallow, "shallow"},
    {merge_mode::concat, "concat"},
}};
constexpr names<agent_type, 4> agent_types{
    {{agent_type::llm, "llm"}, {agent_type::tool, "tool"}, {agent_type::external, "external"}, {agent_type::a2a, "a2a"}}};
constexpr names<tool_error_mode, 2> tool_error_modes{{{tool_error_mode::tell_model, "tell_model"},
                                                    {tool_error_mode::fail, "fail"}}};
constexpr names<model_provider, 2> model_providers{{{model_provider::sim, "sim"}, {model_provider::openai, "openai"}}};
constexpr names<affinity_mode, 3> affinity_modes{{
    {affinity_mode::none, "none"},
    {affinity_mode::run, "run"},
    {affinity_mode::agent, "agent"},
}};
constexpr names<placement_policy, 2> placement_policies{{
    {placement_policy::least_loaded, "least_loaded"},
    {placement_policy::round_robin, "round_robin"},
}};

template <class E, size_t N>
const char* name_in(const names<E, N>& table, E v) {
  for (const auto& [value, name] : table)
    if (value == v) return name;
  return table.front().second;  // unreachable for a valid enum value
}

template <class E, size_t N>
std::optional<E> value_in(const names<E, N>& table, std::string_view name) {
  for (const auto& [value, n] : table)
    if (name == n) return value;
  return std::nullopt;
}

template <class E, size_t N>
std::string joined(const names<E, N>& table) {
  std::string all;
  for (const auto& [value, name] : table) all += (all.empty() ? "" : ", ") + std::string(name);
  return all;
}

// The table of a set, chosen by overload on a value of it.
const auto& table_of(node_kind) { return node_kinds; }
const auto& table_of(failure_mode) { return failure_modes; }
const auto& table_of(aggregation_kind) { return aggregation_kinds; }
const auto& table_of(merge_mode) { return merge_modes; }
const auto& table_of(agent_type) { return agent_types; }
const auto& table_of(tool_error_mode) { return tool_error_modes; }
const auto& table_of(model_provider) { return model_providers; }
const auto& table_of(affinity_mode) { return affinity_modes; }
const auto& table_of(placement_policy) { return placement_policies; }

}  // namespace

const char* to_string(node_kind v) { return name_in(node_kinds, v); }
const char* to_string(failure_mode v) { return name_in(failure_modes, v); }
const char* to_string(aggregation_kind v) { return name_in(aggregation_kinds, v); }
const char* to_string(merge_mode v) { return name_in(merge_modes, v); }
const char* to_string(agent_type v) { return name_in(agent_types, v); }
const char* to_string(tool_error_mode v) { return name_in(tool_error_modes, v); }
const char* to_string(model_provider v) { return name_in(model_providers, v); }
const char* to_string(affinity_mode v) { return name_in(affinity_modes, v); }
const char* to_string(placement_policy v) { return name_in(placement_policies, v); }

template <class E>
std::optional<E> parse_name(std::string_view name) {
  return value_in(table_of(E{}), name);
}

template <class E>
const std::string& all_names() {
  static const std::string all = joined(table_of(E{}));
  return all;
}

#define COHORT_VOCABULARY(E)                                   \
  template std::optional<E> parse_name<E>(std::string_view); \
  template const std::string& all_names<E>();
COHORT_VOCABULARY(node_kind)
COHORT_VOCABULARY(failure_mode)
COHORT_VOCABULARY(aggregation_kind)
COHORT_VOCABULARY(merge_mode)
COHORT_VOCABULARY(agent_type)
COHORT_VOCABULARY(tool_error_mode)
COHORT_VOCABULARY(model_provider)
COHORT_VOCABULARY(affinity_mode)
COHORT_VOCABULARY(placement_policy)
#undef COHORT_VOCABULARY

}  // namespace cohort
