// Fuzz target: the {{...}} template language (template_refs, render, render_json).
// Input: the template, a NUL byte, then a JSON scope such as
// {"input": {...}, "item": ..., "outer": {...}}; without a NUL or when the scope is not
// JSON, a fixed scope. The template is rendered against the scope in each of the forms
// the runtime builds: one object, bindings plus the run input, and own bindings over
// inherited layers ("outer"). A template that does not parse or resolve throws
// template_error; anything else escaping (a crash, UB, another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "messages/bindings.hpp"
#include "spec/template.hpp"

namespace {

using nlohmann::json;

const json& fixed_scope() {
  static const json scope = json::parse(R"({
    "input": {"topic": "actors", "n": 3, "tags": ["a", "b"], "nested": {"deep": [{"x": 1}]}},
    "item": {"name": "Go", "tags": ["fast", "simple"]},
    "results": ["one", {"two": 2}, null],
    "outer": {"acc": "so far", "round": 2}
  })");
  return scope;
}

json parse_scope(const std::string& text) {
  auto scope = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return scope.is_discarded() ? fixed_scope() : scope;
}

// Each call on its own: one template_error must not hide what the next form does.
template <class F>
void expecting_template_errors(F&& render_one) {
  try {
    render_one();
  } catch (const cohort::template_error&) {
  }
}

void render_every_way(const std::string& tmpl, const json& scope) {
  static const json no_input = json::object();
  const json& input = scope.is_object() && scope.contains("input") ? scope["input"] : no_input;
  const json own = scope.is_object() ? scope : json::object();
  auto inherited = cohort::push_bindings(scope.is_object() ? scope.value("outer", json::object()) : json::object(),
                                         nullptr);
  const cohort::template_scope whole(scope);
  const cohort::template_scope with_input(own, input);
  const cohort::template_scope layered(own, inherited.get(), input);

  expecting_template_errors([&] { (void)cohort::template_refs(tmpl); });
  for (const auto* s : {&whole, &with_input, &layered}) {
    expecting_template_errors([&] { (void)cohort::render(tmpl, *s); });
    expecting_template_errors([&] { (void)cohort::render_json(json(tmpl), *s); });
  }
  // A JSON template (a tool's "input"): every string inside it rendered.
  auto as_json = json::parse(tmpl, nullptr, /*allow_exceptions=*/false);
  if (!as_json.is_discarded())
    expecting_template_errors([&] { (void)cohort::render_json(as_json, layered); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto nul = text.find('\0');
  auto tmpl = text.substr(0, nul);
  auto scope = nul == std::string::npos ? fixed_scope() : parse_scope(text.substr(nul + 1));
  render_every_way(tmpl, scope);
  return 0;
}
