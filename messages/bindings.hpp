#pragma once
// The names a task sees ({{item}}, {{results}}, {{acc}} ...): its own, over those its
// ancestors bound. The ancestors' names are shared by all of a pattern's branches, not
// copied into each: a fan-out of 10,000 items after a step with 10,000 results would
// otherwise copy those results 10,000 times (quadratic time and memory).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

struct binding_layer {
  nlohmann::json names = nlohmann::json::object();
  std::shared_ptr<const binding_layer> parent;  // further out; null at the root
};
using binding_chain = std::shared_ptr<const binding_layer>;

// The value bound to `name`: in `own` if there, else in the nearest layer of `inherited`
// that has it; null when none does.
const nlohmann::json* find_binding(const nlohmann::json& own, const binding_layer* inherited,
                                   const std::string& name);

// Every name in one object, inner names over outer ones: for the few places that need a
// whole object (a C++ tool's ToolCall::bindings, a task sent to another node).
nlohmann::json flatten_bindings(const nlohmann::json& own, const binding_chain& inherited);

// `own` as one more layer over `inherited` (its names copied once; no new layer when it
// binds nothing): what a pattern hands all of its branches.
binding_chain push_bindings(const nlohmann::json& own, binding_chain inherited);

}  // namespace cohort
