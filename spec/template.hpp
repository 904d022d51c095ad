#pragma once
// Prompt templating: "{{input.topic}}", "{{item}}", "{{results}}", "{{item.tags[0]}}".
// A string value is inserted as is; anything else as compact JSON.
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/bindings.hpp"

namespace cohort {

struct template_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One {{reference}} of a template: its text and its path split into segments
// ("item.tags[0]" -> {"item", "tags", "0"}).
struct template_ref {
  std::string text;
  std::vector<std::string> segments;
};

// The references of a template, in order. Throws template_error on an unclosed "{{"
// or an empty or malformed reference.
std::vector<template_ref> template_refs(const std::string& tmpl);

// The names a template can see: a task's bindings (item, results, ...) and the run
// input as "input". It only points at them: building one per branch copies nothing.
class template_scope {
 public:
  template_scope(const nlohmann::json& bindings, const nlohmann::json& input)
      : bindings_(&bindings), input_(&input) {}
  // A task's own bindings over those its ancestors bound (see messages/bindings.hpp).
  template_scope(const nlohmann::json& bindings, const binding_layer* inherited, const nlohmann::json& input)
      : bindings_(&bindings), inherited_(inherited), input_(&input) {}
  // Every name in one object ({"input": ..., "item": ...}).
  template_scope(const nlohmann::json& all) : bindings_(&all), input_(nullptr) {}  // NOLINT: implicit on purpose

  // The value at a path, or nullptr when a segment is missing.
  const nlohmann::json* find(const std::vector<std::string>& segs) const;

 private:
  const nlohmann::json* bindings_;
  const binding_layer* inherited_ = nullptr;
  const nlohmann::json* input_;
};

// Looks a dotted path up in `scope` (an object such as {"input":..., "item":...}).
// Returns nullptr when a segment is missing.
const nlohmann::json* lookup(const nlohmann::json& scope, const std::vector<std::string>& segs);

// Same as lookup, but for a path written as text ("input.languages").
const nlohmann::json* lookup(const nlohmann::json& scope, const std::string& path);

// Renders a template against `scope`. Throws template_error naming the reference that
// does not resolve.
std::string render(const std::string& tmpl, const template_scope& scope);

// Renders every string inside a JSON value. A string that is exactly one reference
// ("{{results}}") becomes the referenced value itself, keeping its JSON type.
nlohmann::json render_json(const nlohmann::json& tmpl, const template_scope& scope);

// Text for a value inside a prompt: strings raw, everything else compact JSON.
std::string to_prompt_text(const nlohmann::json& v);

}  // namespace cohort
