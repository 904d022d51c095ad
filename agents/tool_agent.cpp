// The tool agent: runs a registered C++ callable on its rendered input. A detached one
// runs on a thread of its own and is handed the run's bus, barrier and blackboard; a
// coordinating one meets the others and sends what its output names, as an llm agent does.
#include <limits>

#include <caf/all.hpp>

#include "agents/agent_coordination.hpp"
#include "agents/mcp_client.hpp"
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

// An MCP call's failure, of a kind a retry policy can name: "timeout", "connection" (the
// server did not start, cannot be reached, or died), else the tool's error.
result mcp_failure(const agent_def& def, const mcp_error& e) {
  if (e.kind == "timeout") return failure(outcome::timed_out, "timeout", def.name + ": " + e.what());
  if (e.kind == "mcp_unavailable") return failure(outcome::failed, "connection", def.name + ": " + e.what());
  return failure(outcome::failed, "tool_error", def.name + ": " + e.what());
}

result run_tool(const run_context& ctx, const agent_def& def, const task& t, RunCoordination* run = nullptr) {
  auto start = now_us();
  result r;
  try {
    auto input = def.input.is_null() ? default_tool_input(ctx, t) : render_json(def.input, make_scope(ctx, t));
    if (!def.mcp_server.empty()) {
      if (!ctx.mcp_call) throw std::runtime_error("no MCP client in this runtime");
      // The call's own time (its timeout, the run's deadline): a thread waits for it.
      auto limit = std::min<int64_t>(child_timeout_ms(ctx, t, def.timeout_ms), std::numeric_limits<int>::max());
      r.output = ctx.mcp_call(def.mcp_server, def.mcp_tool, input, static_cast<int>(limit));
    } else {
      const auto& tool = ctx.tools->at(def.tool);
      // A C++ tool sees one object: the names inherited are copied in only for it.
      auto bindings = t.inherited ? flatten_bindings(t.bindings, t.inherited) : t.bindings;
      r.output = tool(ToolCall{input, bindings, *ctx.input, t.path, run});
    }
  } catch (const template_error& e) {
    r = failure(outcome::failed, "invalid_input", "agent " + def.name + ": " + e.what());
  } catch (const mcp_error& e) {
    r = mcp_failure(def, e);
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

// A task cancelled before its tool ran, or while it waited for the others.
result cancelled_result(const std::string& reason) {
  auto r = failure(outcome::cancelled, "cancelled", reason);
  r.stats.start_ms = now_ms();
  r.stats.end_ms = r.stats.start_ms;
  r.stats.count(r.status);
  return r;
}

// The tool runs inside the task's handler, so a cancel while idle came before the task
// (kept for it) or after the answer (late: the agent is done).
caf::behavior tool_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto early = std::make_shared<early_cancel>();
  return {
    [=](const task& t) {
      emit(*ctx, t, event_kind::started, def->name);
      auto reason = early->take_at_start();
      auto r = reason ? cancelled_result(*reason) : run_tool(*ctx, *def, t);
      emit(*ctx, t, event_kind::finished, def->name, r.status, r.error.message, r.stats.agent_us);
      return r;
    },
    [=](const cancel& c) {
      if (early->started()) return self->quit();
      early->idle_cancel(c);
    },
  };
}

// A tool agent with the run's coordination: before_acting, the tool, after_acting. One
// task, then gone.
class coordinating_tool_logic {
 public:
  coordinating_tool_logic(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def)
      : self_(self), ctx_(std::move(ctx)), def_(def) {}

  caf::result<result> start(const task& t) {
    task_ = t;
    promise_ = self_->make_response_promise();
    emit(*ctx_, t, event_kind::started, def_->name);
    if (auto reason = early_cancel_.take_at_start()) {  // it never met the others: nothing to leave
      finish(cancelled_result(*reason));
      return promise_;
    }
    progress_ = std::make_shared<party_progress>();
    try {
      progress_->party = party_name(*ctx_, *def_, t);
    } catch (const template_error& e) {
      step_failed(failure(outcome::failed, "invalid_input", "agent " + def_->name + ": coordination.as: " + e.what()));
      return promise_;
    }
    if (def_->coordination.enabled)
      before_acting(self_, *ctx_, *def_, progress_, limit_ms(), [this](nlohmann::json messages) { act(std::move(messages)); },
                    [this](result r) { step_failed(std::move(r)); });
    else
      act(nlohmann::json::array());
    return promise_;
  }

  // Mid-task (at a barrier, in a receive): it leaves its sync point and answers cancelled.
  void cancelled(const cancel& c) {
    if (!promise_.pending()) return early_cancel_.idle_cancel(c);
    finish(cancelled_result(c.reason));
  }

 private:
  void act(nlohmann::json messages) {
    if (!promise_.pending()) return;
    auto seen = task_;
    if (!seen.bindings.is_object()) seen.bindings = nlohmann::json::object();
    if (def_->coordination.enabled) seen.bindings["messages"] = std::move(messages);
    std::optional<RunCoordination> run;
    if (def_->detached && ctx_->bus) {
      auto& sys = self_->system();
      run = RunCoordination{coordination_access::bus(sys, ctx_->bus), coordination_access::barrier(sys, ctx_->barrier),
                            coordination_access::blackboard(sys, ctx_->board), progress_->party};
    }
    auto r = run_tool(*ctx_, *def_, seen, run ? &*run : nullptr);
    if (!r.ok() || !def_->coordination.enabled) return finish(std::move(r));
    auto output = r.output;
    after_acting(self_, *ctx_, *def_, progress_, output, limit_ms(), [this, r]() { finish(r); },
                 [this](result f) { step_failed(std::move(f)); });
  }

  // A step around the tool failed (a barrier broke, a receive timed out).
  void step_failed(result r) {
    r.error.message = task_.path + ": " + r.error.message;
    r.stats.count(r.status);
    finish(std::move(r));
  }

  void finish(result r) {
    if (!promise_.pending()) return;
    if (!r.ok()) leave_if_pending(*ctx_, *def_, progress_, r.error.message);
    emit(*ctx_, task_, event_kind::finished, def_->name, r.status, r.error.message, r.stats.agent_us);
    promise_.deliver(std::move(r));
    promise_ = caf::response_promise{};  // a promise holds its actor: let both go
    quit_when_answered(self_, progress_);
  }

  int64_t limit_ms() const { return child_timeout_ms(*ctx_, task_, def_->timeout_ms); }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  const agent_def* def_;
  task task_;
  caf::response_promise promise_;
  progress_ptr progress_;  // the task's sync point: left if it ends early
  early_cancel early_cancel_;
};

caf::behavior coordinating_tool_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto logic = std::make_shared<coordinating_tool_logic>(self, std::move(ctx), def);
  return {
      [=](const task& t) { return logic->start(t); },
      [=](const cancel& c) { logic->cancelled(c); },
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
