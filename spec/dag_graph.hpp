#pragma once
// The graph side of a DAG, shared by the scenario loader, the plan pattern (which
// checks a plan written at run time) and the DAG supervisor (layers, critical path).
// Plain C++: nodes are numbered 0..n-1, deps[i] are the nodes node i waits for.
#include <functional>
#include <string>
#include <vector>

namespace cohort {

using dag_deps = std::vector<std::vector<size_t>>;

// Resolves `depends_on` names into numbers. Returns the problems, each naming the
// nodes: a duplicate id, an unknown dependency, a node that depends on itself, a cycle
// ("a -> b -> a"). `where(i)` names node i in messages (a JSON path, or the plan index).
std::vector<std::string> resolve_dag(const std::vector<std::string>& ids,
                                     const std::vector<std::vector<std::string>>& depends_on,
                                     const std::function<std::string(size_t)>& where, dag_deps& deps);

// Finds one cycle, as the ids along it, first id repeated at the end; empty if none.
std::vector<std::string> find_cycle(const std::vector<std::string>& ids, const dag_deps& deps);

// Layer k holds the nodes whose longest chain of dependencies has k links (acyclic input).
std::vector<std::vector<size_t>> topological_layers(const dag_deps& deps);

// The chain of dependencies with the largest total duration, first node first.
std::vector<size_t> critical_path(const dag_deps& deps, const std::vector<double>& durations);

}  // namespace cohort
