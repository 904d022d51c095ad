// A head's run, as one of its workers holds it (docs/cluster.md): the worker loads the
// scenario the head sent, with the head's tool names (a tool agent is placed only on a
// worker that has its tool), and its agents report to the head's event sink.
#include <caf/all.hpp>

#include "messages/cluster.hpp"
#include "models/provider_actors.hpp"
#include "messages/input_limits.hpp"
#include "run/run_context.hpp"
#include "run/usage_ledger.hpp"
#include "runtime/runtime_access.hpp"
#include "runtime/runtime_impl.hpp"
#include "spec/scenario.hpp"
#include "spec/tool_uses.hpp"

namespace cohort {

worker_run runtime_access::worker_context(Runtime& rt, const run_spec& spec,
                                          const std::map<std::string, model_def>& own_models,
                                          const caf::actor& event_relay) {
  auto& impl = *rt.impl_;
  auto& sys = *impl.system;
  auto origin = "the head's run " + spec.run_id;
  check_json_depth(spec.scenario, origin);
  check_json_depth(spec.input, origin + " (input)");
  auto doc = spec.scenario;
  if (doc.is_object()) doc["input"] = spec.input;  // the loader checks the workflow's paths against it
  auto tool_names = spec.tool_names;  // the head's, and this worker's own (what it was placed here for)
  for (const auto& kv : *impl.tools) tool_names.push_back(kv.first);
  mcp_access mcp;  // the MCP tools the head listed (they run there)
  if (doc.is_object() && doc.contains(detail::head_mcp_tools_key)) {
    mcp = detail::replayed_mcp_tools(doc[detail::head_mcp_tools_key]);
    doc.erase(detail::head_mcp_tools_key);
  }
  auto loaded = std::make_shared<scenario>(load_scenario(std::move(doc), origin, tool_names, mcp));
  worker_run out;
  auto ctx = std::make_shared<run_context>();
  ctx->run_id = spec.run_id;
  ctx->input = std::make_shared<const nlohmann::json>(spec.input);
  ctx->tools = impl.tools;
  ctx->io = impl.io.get();
  ctx->default_timeout_ms = spec.default_timeout_ms > 0 ? spec.default_timeout_ms : impl.options.default_timeout_ms;
  ctx->tool_slots = 4 * static_cast<size_t>(impl.threads);
  ctx->default_max_concurrency = impl.options.default_max_concurrency;
  ctx->retry_budget = std::make_shared<std::atomic<int64_t>>(0);  // retries are the head's
  ctx->usage = std::make_shared<usage_ledger>();                  // the head counts what the results say
  for (const auto& [alias, model] : loaded->models) {
    if (auto head = spec.head_models.find(alias); model.via_head && head != spec.head_models.end() && head->second) {
      ctx->models[alias] = head->second;  // the head's pool makes these calls
      continue;
    }
    auto own = own_models.find(alias);
    const auto& def = own != own_models.end() ? own->second : model;
    if (def.provider == model_provider::sim) {
      ctx->models[alias] = spawn_sim_model(sys, def);
      out.owned.push_back(ctx->models[alias]);
    } else {
      ctx->models[alias] = impl.providers->provider_for(def);
    }
  }
  ctx->events = spec.events ? event_relay : caf::actor{};
  ctx->all_events = spec.all_events && spec.events;
  ctx->spec = std::move(loaded);
  out.ctx = std::move(ctx);
  return out;
}

std::vector<std::string> runtime_access::tool_names(Runtime& rt) {
  std::vector<std::string> names;
  for (const auto& kv : *rt.impl_->tools) names.push_back(kv.first);
  return names;
}

}  // namespace cohort
