#pragma once
// The closed sets of the scenario format, as enums: parsed once where the scenario is
// loaded (spec/), compared as enums everywhere else. vocabulary.cpp holds each set's
// names, the one list that the loader, the engine and reports all read.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

// tool_loop is never written in a scenario: an llm agent with tools runs as one.
enum class node_kind { agent, fan_out, pipeline, race, vote, dag, plan, tree, fallback, loop, simulation, tool_loop };
// What a multi-branch node does when branches fail (workflow/failure_policy.hpp).
enum class failure_mode { fail_fast, fail_soft, all_settled };
// How branch outputs combine (workflow/aggregate.hpp, workflow/fan_in.hpp).
enum class aggregation_kind { collect, join, merge, reduce, first, vote, synthesize, by_id };
enum class merge_mode { deep, shallow, concat };
enum class agent_type { llm, tool, external, a2a };
// What a failed tool call does to an agent's tool loop.
enum class tool_error_mode { tell_model, fail };
enum class model_provider { sim, openai };
// Which calls of a model stay on one endpoint.
enum class affinity_mode { none, run, agent };
// Which worker of a cluster gets a placed branch: the one with the most free slots, or each in turn.
enum class placement_policy { least_loaded, round_robin };

// A value's name, as a scenario spells it.
const char* to_string(node_kind v);
const char* to_string(failure_mode v);
const char* to_string(aggregation_kind v);
const char* to_string(merge_mode v);
const char* to_string(agent_type v);
const char* to_string(tool_error_mode v);
const char* to_string(model_provider v);
const char* to_string(affinity_mode v);
const char* to_string(placement_policy v);

// The value a name spells, if any: parse_name<failure_mode>("fail_soft").
template <class E>
std::optional<E> parse_name(std::string_view name);

// Every name of a set, for errors: "fail_fast, fail_soft, all_settled".
template <class E>
const std::string& all_names();

// The value `name` spells at JSON path `path`. When it spells none, a problem naming
// the path and every name goes to `problems`, and the result is `fallback`.
template <class E>
E parse_name_at(const std::string& name, const std::string& path, std::vector<std::string>& problems, E fallback) {
  if (auto v = parse_name<E>(name)) return *v;
  problems.push_back(path + ": \"" + name + "\" is not one of: " + all_names<E>());
  return fallback;
}

}  // namespace cohort
