#include "workflow/simulation_population.hpp"

#include <algorithm>

namespace cohort {
namespace {

// The instances' variables of one group: `instances`, `instances_from`, or `count` empty ones.
nlohmann::json instance_vars(const population_group& g, const template_scope& scope) {
  if (!g.instances.is_null()) return g.instances;
  if (g.instances_from.empty()) return nlohmann::json::array_t(static_cast<size_t>(g.count), nlohmann::json::object());
  const nlohmann::json* found = nullptr;
  try {
    found = scope.find(template_refs("{{" + g.instances_from + "}}")[0].segments);
  } catch (const template_error&) {
  }
  if (!found || !found->is_array() || found->empty())
    throw std::invalid_argument(g.json_path + ".instances_from: \"" + g.instances_from + "\" " +
                                (found ? "is not a non-empty array" : "does not resolve"));
  return *found;
}

std::string instance_name(const population_group& g, size_t index, const nlohmann::json& vars) {
  if (g.name.empty()) return g.agent->agent + "-" + std::to_string(index);
  nlohmann::json names{{"index", index}, {"vars", vars}};
  try {
    return render(g.name, template_scope(names));
  } catch (const template_error& e) {
    throw std::invalid_argument(g.json_path + ".name: " + e.what());
  }
}

void ring(std::vector<sim_instance>& all, int degree) {
  auto n = all.size();
  auto d = std::min<size_t>(static_cast<size_t>(degree), n - 1);
  for (size_t i = 0; i < n; ++i) {
    auto& ns = all[i].neighbours;
    for (size_t k = 1; ns.size() < d; ++k) {
      ns.push_back((i + k) % n);
      if (ns.size() < d) ns.push_back((i + n - k) % n);
    }
  }
}

// `degree` distinct others for each instance, drawn from the seed.
void random_graph(std::vector<sim_instance>& all, int degree, uint64_t seed) {
  auto n = all.size();
  auto d = std::min<size_t>(static_cast<size_t>(degree), n - 1);
  for (size_t i = 0; i < n; ++i) {
    auto& ns = all[i].neighbours;
    for (uint64_t draw = 0; ns.size() < d; ++draw) {
      auto j = mix_seed(seed, i, draw) % n;
      if (j != i && std::find(ns.begin(), ns.end(), j) == ns.end()) ns.push_back(j);
    }
  }
}

}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  // splitmix64 over the three: cheap, and well spread for neighbouring inputs.
  auto x = seed ^ (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL);
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

population build_population(const simulation_rules& rules, const template_scope& scope) {
  population out;
  for (const auto& g : rules.population) {
    auto vars = instance_vars(g, scope);
    for (size_t k = 0; k < vars.size(); ++k) {
      if (!vars[k].is_object())
        throw std::invalid_argument(g.json_path + ": instance " + std::to_string(k) + " is " + vars[k].type_name() +
                                    ", not an object of variables");
      sim_instance inst;
      inst.agent = g.agent;
      inst.self = g.vars;
      inst.self.update(vars[k]);
      inst.name = instance_name(g, k, inst.self);
      auto index = out.instances.size();
      auto [it, added] = out.index_of.emplace(inst.name, index);
      if (!added)
        throw std::invalid_argument(g.json_path + ": two instances are named \"" + inst.name +
                                    "\" (give each group a \"name\" with {{index}})");
      inst.self["name"] = inst.name;
      inst.self["index"] = index;
      out.instances.push_back(std::move(inst));
    }
  }
  if (rules.topology == "ring") ring(out.instances, rules.degree);
  if (rules.topology == "random") random_graph(out.instances, rules.degree, rules.seed);
  for (auto& inst : out.instances) {
    if (inst.neighbours.empty()) continue;
    auto& names = inst.self["neighbours"] = nlohmann::json::array();
    for (auto j : inst.neighbours) names.push_back(out.instances[j].name);
  }
  return out;
}

}  // namespace cohort
