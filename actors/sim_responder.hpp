#pragma once
// The simulated model's brain, shared by the in-process `sim` provider and by
// `cohort mock-llm`: seeded latency, failure rate, deterministic text, and scripted
// replies (ordered regex rules answering with a template or a weighted choice).
// Plain C++, no CAF: it decides what to answer; the callers decide how to deliver it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/regex.hpp"

namespace cohort {

struct sim_choice {
  std::string reply;
  double weight = 1.0;
};

struct sim_rule {
  cohort::regex regex;              // matched (search) against the last user message
  std::string reply;                // template: {{0}}, {{1}}.. capture groups, {{prompt}}
  std::vector<sim_choice> choices;  // or a weighted pick among these templates
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

// Rough token count for text whose server reports no usage (about 4 characters a token).
int64_t estimate_tokens(const std::string& text);
// The same for the text contents of OpenAI chat messages.
int64_t estimate_prompt_tokens(const nlohmann::json& messages);

class sim_responder {
 public:
  struct answer {
    std::string text;
    int latency_ms = 0;
    bool fail = false;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
  };

  explicit sim_responder(sim_settings settings);

  // Deterministic: the same messages and attempt give the same answer.
  answer respond(const nlohmann::json& messages, uint64_t salt = 0) const;

  const sim_settings& settings() const { return settings_; }

 private:
  sim_settings settings_;
};

}  // namespace cohort
