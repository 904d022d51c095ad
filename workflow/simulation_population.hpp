#pragma once
// A simulation's population, expanded for one run: every instance with its name,
// its variables (`self` in templates) and its neighbours. Plain C++, no CAF.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "spec/scenario.hpp"
#include "spec/template.hpp"

namespace cohort {

struct sim_instance {
  std::string name;
  node_ptr agent;
  nlohmann::json self;             // vars, then the instance's own, plus name and index
  std::vector<size_t> neighbours;  // who "@neighbours" reaches (ring and random topologies)
};

struct population {
  std::vector<sim_instance> instances;
  std::unordered_map<std::string, size_t> index_of;  // by name
};

// Expands the groups of `rules` (instances_from is looked up in `scope`). Throws
// std::invalid_argument naming the JSON path: a duplicate name, an instances_from
// that is not an array of objects, an empty population.
population build_population(const simulation_rules& rules, const template_scope& scope);

// A well-mixed 64-bit value from a seed and two numbers: the {{seed}} of an instance in
// a round, and the draws of a random topology. The same on every platform.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b);

}  // namespace cohort
