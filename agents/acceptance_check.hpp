#pragma once
// Is a result good enough? The checks a race runner's or a loop body's output must pass:
// the fixed ones (non-empty, regex, JSON fields) here, the judge agent's verdict read here.
#include <string>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {

// Why `output` fails the fixed checks of `a`; empty when it passes them.
std::string rejection(const acceptance& a, const nlohmann::json& output);

struct verdict {
  bool pass = false;
  std::string feedback;  // the judge's words, for the next try
};

// A judge's answer: true/false; an object with "valid" (or "pass", "accept", "ok")
// and optional "feedback"/"reason"; or text whose first word says yes (yes, valid,
// pass, passed, accept, accepted, approve, approved, true, ok, correct); text holding
// such a JSON object is read as the object. Anything else is a no.
verdict read_verdict(const nlohmann::json& judge_output);

}  // namespace cohort
