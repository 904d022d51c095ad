// The tool agent: runs a registered C++ callable on its rendered input.
#include <caf/all.hpp>

#include "actors/agent_support.hpp"
#include "actors/agents.hpp"
#include "messages/cancel.hpp"
#include "runtime/src/template.hpp"

namespace cohort {
namespace {

// Without an explicit `input`, a tool works on the nearest value: the item, the
// previous step's results, or the run input.
nlohmann::json default_tool_input(const run_context& ctx, const task& t) {
  for (const char* key : {"item", "results"})
    if (t.bindings.contains(key)) return t.bindings[key];
  return *ctx.input;
}

result run_tool(const run_context& ctx, const agent_def& def, const task& t) {
  auto start = now_us();
  result r;
  try {
    auto input = def.input.is_null() ? default_tool_input(ctx, t) : render_json(def.input, make_scope(ctx, t));
    const auto& tool = ctx.tools->at(def.tool);
    r.output = tool(ToolCall{input, t.bindings, *ctx.input, t.path});
  } catch (const template_error& e) {
    r = failure(outcome::failed, "invalid_input", "agent " + def.name + ": " + e.what());
  } catch (const std::exception& e) {
    r = failure(outcome::failed, "tool_error", "tool " + def.tool + ": " + e.what());
  }
  if (!r.ok()) r.error.message = t.path + ": " + r.error.message;
  r.stats.start_ms = now_ms();
  r.stats.end_ms = r.stats.start_ms;
  r.stats.agent_us = now_us() - start;
  r.stats.count(r.status);
  return r;
}

caf::behavior tool_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  return {
    [=](const task& t) {
      emit(*ctx, t, event_kind::started, def->name);
      auto r = run_tool(*ctx, *def, t);
      emit(*ctx, t, event_kind::finished, def->name, r.status, r.error.message, r.stats.agent_us);
      return r;
    },
    [=](const cancel&) { self->quit(); },
  };
}

}  // namespace

caf::actor spawn_tool_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                            const agent_def& agent) {
  return sys.spawn(tool_agent, ctx, &agent);
}

}  // namespace cohort
