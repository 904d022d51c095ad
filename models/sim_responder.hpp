#pragma once
// The simulated model's brain, shared by the in-process `sim` provider and by
// `cohort mock-llm`: seeded latency, failure rate, deterministic text, and scripted
// replies (ordered regex rules answering with a template or a weighted choice).
// Plain C++, no CAF: it decides what to answer; the callers decide how to deliver it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/sim_settings.hpp"

namespace cohort {

class sim_responder {
 public:
  struct answer {
    std::string text;
    nlohmann::json tool_calls;  // a scripted turn of calls (OpenAI's form); null: none
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
