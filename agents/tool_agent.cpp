// The tool agent: runs a registered C++ callable on its rendered input. A detached one
// runs on a thread of its own and is handed the run's bus, barrier and blackboard; a
// coordinating one meets the others and sends what its output names, as an llm agent does.
#include <caf/all.hpp>

#include "agents/agent_coordination.hpp"
#include "agents/spawn_agent.hpp"
#include "cohort/coordination.hpp"
#include "coordination/coordination_handles.hpp"
#include "messages/cancel.hpp"
#include "run/run_events.hpp"
#include "spec/template.hpp"

namespace cohort {
namespace {

// Without an explicit `input`, a tool works on the nearest value: the item, the
// previous step's results, or the run input.
nlohmann::json default_tool_input(const run_context& ctx, const task& t) {
  for (const char* key : {"item", "results"})
    if (const auto* v = find_binding(t.bindings, t.inherited.get(), key)) return *v;
  return *ctx.input;
}

result run_tool(const run_context& ctx, const agent_def& def, const task& t, RunCoordination* run = nullptr) {
  auto start = now_us();
  result r;
  try {
    auto input = def.input.is_null() ? default_tool_input(ctx, t) : render_json(def.input, make_scope(ctx, t));
    if (!def.mcp_server.empty()) {
      if (!ctx.mcp_call) throw std::runtime_error("no MCP client in this runtime");
      r.output = ctx.mcp_call(def.mcp_server, def.mcp_tool, input);
    } else {
      const auto& tool = ctx.tools->at(def.tool);
      // A C++ tool sees one object: the names inherited are copied in only for it.
      auto bindings = t.inherited ? flatten_bindings(t.bindings, t.inherited) : t.bindings;
      r.output = tool(ToolCall{input, bindings, *ctx.input, t.path, run});
    }
  } catch (const template_error& e) {
    r = failure(outcome::failed, "invalid_input", "agent " + def.name + ": " + e.what());
  } catch (const std::exception& e) {
    r = failure(outcome::failed, "tool_error", (def.mcp_server.empty() ? "tool " + def.tool : def.name) + ": " + e.what());
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

// A tool agent with the run's coordination: before_acting, the tool, after_acting.
caf::behavior coordinating_tool_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto& sys = self->system();
  auto current = std::make_shared<progress_ptr>();  // the task in hand: left behind if cancelled
  return {
    [=, &sys](const task& t) -> caf::result<result> {
      emit(*ctx, t, event_kind::started, def->name);
      auto promise = std::make_shared<caf::response_promise>(self->make_response_promise());
      auto progress = *current = std::make_shared<party_progress>();
      auto finish = [=](result r) {
        if (!promise->pending()) return;
        if (!r.ok()) leave_if_pending(*ctx, *def, progress, r.error.message);
        emit(*ctx, t, event_kind::finished, def->name, r.status, r.error.message, r.stats.agent_us);
        promise->deliver(std::move(r));
        // A promise holds its actor, and nobody reuses this one: drop both now.
        *promise = caf::response_promise{};
        self->quit();
      };
      // A step around the tool failed (a barrier broke, a receive timed out).
      auto step_failed = [=](result r) {
        r.error.message = t.path + ": " + r.error.message;
        r.stats.count(r.status);
        finish(std::move(r));
      };
      try {
        progress->party = party_name(*ctx, *def, t);
      } catch (const template_error& e) {
        step_failed(failure(outcome::failed, "invalid_input", "agent " + def->name + ": coordination.as: " + e.what()));
        return *promise;
      }
      auto act = [=, &sys](nlohmann::json messages) {
        auto seen = t;
        if (!seen.bindings.is_object()) seen.bindings = nlohmann::json::object();
        if (def->coordination.enabled) seen.bindings["messages"] = std::move(messages);
        std::optional<RunCoordination> run;
        if (def->detached && ctx->bus)
          run = RunCoordination{coordination_access::bus(sys, ctx->bus), coordination_access::barrier(sys, ctx->barrier),
                                coordination_access::blackboard(sys, ctx->board), progress->party};
        auto r = run_tool(*ctx, *def, seen, run ? &*run : nullptr);
        if (!r.ok() || !def->coordination.enabled) return finish(std::move(r));
        auto output = r.output;
        after_acting(self, *ctx, *def, progress, output, child_timeout_ms(*ctx, t, def->timeout_ms),
                     [=]() mutable { finish(std::move(r)); }, step_failed);
      };
      if (def->coordination.enabled)
        before_acting(self, *ctx, *def, progress, child_timeout_ms(*ctx, t, def->timeout_ms), act, step_failed);
      else
        act(nlohmann::json::array());
      return *promise;
    },
    [=](const cancel& c) {
      leave_if_pending(*ctx, *def, *current, c.reason);
      self->quit();
    },
  };
}

}  // namespace

caf::actor spawn_tool_agent(caf::actor_system& sys, const run_context_ptr& ctx,
                            const agent_def& agent) {
  if (agent.detached) return sys.spawn<caf::detached>(coordinating_tool_agent, ctx, &agent);
  if (agent.coordination.enabled) return sys.spawn(coordinating_tool_agent, ctx, &agent);
  return sys.spawn(tool_agent, ctx, &agent);
}

}  // namespace cohort
