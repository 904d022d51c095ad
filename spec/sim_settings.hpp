#pragma once
// The settings of a simulated model (provider "sim", and `cohort mock-llm --rules`):
// seed, latency, failure rate and scripted replies (ordered regex rules answering with
// a template or a weighted choice). Parsed once, where the scenario is loaded.
// Includes: messages/, spec/.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/regex.hpp"

namespace cohort {

struct sim_choice {
  std::string reply;
  double weight = 1.0;
};

// A tool call that a rule scripts: string values in its arguments are reply templates.
struct sim_tool_call {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();
};

struct sim_rule {
  cohort::regex regex;              // matched (search) against the last user message
  std::string reply;                // template: {{0}}, {{1}}.. capture groups, {{prompt}},
                                    // {{tool_results}} (the last turn's tool results)
  std::vector<sim_choice> choices;  // or a weighted pick among these templates
  // Turns of tool calls: the model's k-th answer to the prompt calls tool_turns[k];
  // once they are done, it answers with the reply (or a choice).
  std::vector<std::vector<sim_tool_call>> tool_turns;
};

struct sim_settings {
  std::string name = "sim";
  uint64_t seed = 1;
  int latency_min_ms = 0;           // uniform in [min, max]; fixed when equal
  int latency_max_ms = 0;
  double failure_rate = 0.0;        // share of calls answered with a model_error
  std::vector<sim_rule> rules;
};

// Reads the sim fields of a model definition: seed, latency_ms (number or {min,max}),
// failure_rate, rules. Throws std::invalid_argument naming `where` + the key on bad input.
sim_settings parse_sim_settings(const nlohmann::json& model, const std::string& where);

// Reads just a rules array (also what `cohort mock-llm --rules FILE` holds).
std::vector<sim_rule> parse_sim_rules(const nlohmann::json& rules, const std::string& where);

}  // namespace cohort
