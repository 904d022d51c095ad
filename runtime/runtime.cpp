#include "cohort/runtime.hpp"

#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include "agents/mcp_client.hpp"
#include "coordination/barrier.hpp"
#include "coordination/blackboard.hpp"
#include "coordination/bus.hpp"
#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "messages/coordination.hpp"
#include "messages/event.hpp"
#include "messages/input_limits.hpp"
#include "messages/protocol.hpp"
#include "models/provider_actors.hpp"
#include "run/external_desk.hpp"
#include "run/resource_pools.hpp"
#include "run/run_events.hpp"
#include "run/usage_ledger.hpp"
#include "runtime/builtin_tools.hpp"
#include "runtime/model_providers.hpp"
#include "runtime/open_file_limit.hpp"
#include "runtime/public_results.hpp"
#include "runtime/runtime_access.hpp"
#include "runtime/runtime_impl.hpp"
#include "spec/scenario.hpp"
#include "spec/json_schema.hpp"
#include "spec/tool_uses.hpp"
#include "workflow/run_driver.hpp"
#include "workflow/spawn_node.hpp"

namespace cohort {

namespace {

std::atomic<uint64_t> next_run{1};

}  // namespace

const std::string& Scenario::name() const { return impl_->name; }
const nlohmann::json& Scenario::input() const { return *impl_->input; }

void Scenario::check_input(const nlohmann::json& input) const {
  try {
    check_json_depth(input, "input");
  } catch (const input_error& e) {
    throw scenario_error(impl_->origin + " (input)", {e.detail});
  }
  validate_input(*impl_, input);
}

std::vector<std::string> Scenario::secrets() const {
  std::vector<std::string> found;
  for (const auto& [alias, m] : impl_->models) {
    if (!m.api_key_env.empty())
      if (const char* key = std::getenv(m.api_key_env.c_str()); key && *key) found.emplace_back(key);
    for (const auto& e : m.endpoints)
      for (const auto& [name, value] : e.headers)
        if (boost::algorithm::iequals(name, "authorization")) found.push_back(value);
  }
  // The bearer tokens of remote agents and MCP servers, from the environment too.
  auto from_env = [&found](const std::string& name) {
    if (name.empty()) return;
    if (const char* key = std::getenv(name.c_str()); key && *key) found.emplace_back(key);
  };
  for (const auto& [name, a] : impl_->agents) from_env(a.api_key_env);
  for (const auto& [name, s] : impl_->mcp_servers) from_env(s.api_key_env);
  return found;
}

struct Run::state {
  RunResult result;  // set once, before `finished` is
  std::promise<void> done;
  std::shared_future<void> finished = done.get_future().share();
  caf::actor driver;
  run_context_ptr context;  // its bus, barrier and external desk, for the node's agent API
};

void Run::cancel(const std::string& reason) {
  if (state_ && state_->driver) caf::anon_send(state_->driver, cohort::cancel{reason});
}

std::optional<RunResult> Run::wait_for(std::chrono::milliseconds timeout) {
  if (state_->finished.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return state_->result;
}

RunResult Run::wait() {
  state_->finished.wait();
  return state_->result;
}

Runtime::impl::impl(RuntimeOptions o) : options(std::move(o)) {
  offered_mcp_servers = detail::read_offered_mcp_servers(options.mcp_servers, "RuntimeOptions.mcp_servers");
  set_input_limits({options.max_json_depth, options.max_file_bytes, options.max_rendered_bytes});
  raise_open_file_limit();
  register_messages(config);
  threads = options.scheduler_threads > 0 ? options.scheduler_threads
                                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  config.set("scheduler.max-threads", threads);
  config.set("scheduler.policy", options.scheduler_policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  config.set("logger.verbosity", caf::atom("quiet"));
  if (options.cluster) {
    config.load<caf::io::middleman>();
    // CAF sees no frozen peer without them: its connection times out, the peer's actors go down.
    config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
    config.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
  }
  system = std::make_unique<caf::actor_system>(config);
  providers = std::make_unique<model_providers>(*system, *io, open_connections);
  io_threads_running = options.io_threads;
  for (int i = 0; i < options.io_threads; ++i)
    io_threads.emplace_back([this] {
      io->run();
      --io_threads_running;
    });
}

Runtime::impl::~impl() {
  // Stop what still runs, give it a moment to answer, then tear down in order:
  // actors first, the I/O threads next, the actor system last.
  std::vector<std::shared_ptr<Run::state>> live;
  {
    std::lock_guard<std::mutex> lock(runs_mutex);
    for (auto& w : runs)
      if (auto s = w.lock()) live.push_back(s);
  }
  for (auto& s : live) {
    caf::anon_send(s->driver, cancel{"runtime shutting down"});
    s->finished.wait_for(std::chrono::seconds(2));
  }
  providers->stop();
  mcp.reset();  // ends the MCP servers (by their process groups)
  alive.reset();
  {
    std::lock_guard<std::mutex> lock(adopted_mutex);
    for (auto& addr : adopted)
      if (auto a = caf::actor_cast<caf::actor>(addr)) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    adopted.clear();
  }
  for (int i = 0; i < 400 && system->registry().running() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The HTTP clients have posted their closes: let them run (an idle keep-alive
  // connection ends with a FIN, not a reset), then stop what is still pending.
  work.reset();
  for (int i = 0; i < 100 && io_threads_running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  io->stop();
  for (auto& t : io_threads) t.join();
  io.reset();
  system.reset();
}

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<impl>(std::move(options))) {}

Runtime::~Runtime() = default;

const RuntimeOptions& Runtime::options() const { return impl_->options; }

void Runtime::register_tool(const std::string& name, Tool tool) {
  // Copy-on-write: runs already started keep the map they began with.
  auto next = std::make_shared<std::map<std::string, Tool>>(*impl_->tools);
  (*next)[name] = std::move(tool);
  impl_->tools = next;
}

void Runtime::register_tool(const std::string& name, Tool tool, ToolInfo info) {
  if (!info.parameters.is_null()) json_schema check(info.parameters);  // throws naming what is wrong
  register_tool(name, std::move(tool));
  impl_->tool_infos[name] = std::move(info);
}

std::vector<std::string> Runtime::impl::known_tools() {
  std::set<std::string> names;
  for (const auto& kv : *tools) names.insert(kv.first);
  std::lock_guard<std::mutex> lock(cluster_tools_mutex);
  names.insert(cluster_tools.begin(), cluster_tools.end());
  return {names.begin(), names.end()};
}

Scenario Runtime::load_file(const std::string& path) const {
  Scenario s;
  auto loaded = load_scenario_file(path, impl_->known_tools(), impl_->mcp_tools());
  describe_registered_tools(loaded, impl_->tool_infos);
  s.impl_ = std::make_shared<const scenario>(std::move(loaded));
  return s;
}

Scenario Runtime::load(const nlohmann::json& doc, const std::string& origin) const {
  try {
    check_json_depth(doc, origin);
  } catch (const input_error& e) {
    throw scenario_error(origin, {e.detail});
  }
  Scenario s;
  auto loaded = load_scenario(doc, origin, impl_->known_tools(), impl_->mcp_tools());
  describe_registered_tools(loaded, impl_->tool_infos);
  s.impl_ = std::make_shared<const scenario>(std::move(loaded));
  return s;
}

Run Runtime::start(const Scenario& sc, std::optional<nlohmann::json> input, EventHandler on_event,
                   ResultHandler on_result) {
  return start_as("", sc, std::move(input), std::move(on_event), std::move(on_result));
}

Run Runtime::start_as(std::string run_id, const Scenario& sc, std::optional<nlohmann::json> input, EventHandler on_event,
                      ResultHandler on_result) {
  auto& sys = *impl_->system;
  const auto& spec = sc.impl_;
  if (input) sc.check_input(*input);

  auto ctx = std::make_shared<run_context>();
  ctx->run_id = run_id.empty() ? spec->name + "-" + std::to_string(next_run++) : std::move(run_id);
  ctx->spec = spec;
  ctx->input = input ? std::make_shared<const nlohmann::json>(std::move(*input)) : spec->input;
  ctx->tools = impl_->tools;
  ctx->io = impl_->io.get();
  ctx->cluster = impl_->cluster;
  ctx->mcp_call = [registry = impl_->mcp, spec = ctx->spec](const std::string& server, const std::string& tool,
                                                            const nlohmann::json& arguments, int timeout_ms) {
    return mcp_output(registry->client(spec->mcp_servers.at(server))->call_tool(tool, arguments, timeout_ms));
  };
  ctx->default_timeout_ms = impl_->options.default_timeout_ms;
  ctx->tool_slots = 4 * static_cast<size_t>(impl_->threads);
  ctx->default_max_concurrency = impl_->options.default_max_concurrency;
  ctx->retry_budget = std::make_shared<std::atomic<int64_t>>(spec->retry_budget);
  ctx->usage = std::make_shared<usage_ledger>();
  if (!spec->resource_names.empty())
    ctx->pools = std::make_shared<resource_pools>(spec->resource_capacity);
  std::vector<caf::actor> run_models;  // the sim models (and coordination actors) live as long as the run
  for (const auto& [name, model] : spec->models) {
    if (model.provider == model_provider::sim) {
      ctx->models[name] = spawn_sim_model(sys, model);
      run_models.push_back(ctx->models[name]);
    } else {
      ctx->models[name] = impl_->providers->provider_for(model);
    }
  }
  if (spec->coordinated) {
    ctx->bus = spawn_bus(sys, bus_config{ctx->run_id, 10000, {}});
    ctx->barrier = spawn_barrier(sys, barrier_config{ctx->run_id, 0});
    for (const auto& [name, parties] : spec->barriers) caf::anon_send(ctx->barrier, barrier_define{name, parties});
    ctx->board = spawn_blackboard(sys, blackboard_config{ctx->run_id});
    ctx->externals = std::make_shared<external_desk>();
    run_models.insert(run_models.end(), {ctx->bus, ctx->barrier, ctx->board});
  }
  // The sink keeps every pattern's report (DAG layers, race runners, a plan) for the
  // result; without a listener, only those events are sent at all.
  auto reports = std::make_shared<nlohmann::json>(nlohmann::json::object());
  ctx->events = spawn_event_sink(sys, [on_event, reports](event& e) {
    if (on_event) on_event(to_public(e));
    if (!e.report.is_null()) (*reports)[e.path] = std::move(e.report);
  });
  ctx->all_events = static_cast<bool>(on_event);
  auto sink = ctx->events;

  task root_task;
  root_task.run_id = ctx->run_id;
  root_task.path = spec->workflow->label;
  // The root is started here, not by a parent: its own "with" and "timeout_ms" apply here.
  const auto& root_node = *spec->workflow;
  root_task.bindings = root_node.with.is_object() ? root_node.with : nlohmann::json::object();
  int64_t run_timeout = spec->timeout_ms > 0 ? spec->timeout_ms : impl_->options.run_timeout_ms;
  if (root_node.timeout_ms > 0) run_timeout = std::min<int64_t>(run_timeout, root_node.timeout_ms);
  root_task.deadline_ms = now_ms() + run_timeout;

  auto st = std::make_shared<Run::state>();
  st->context = ctx;
  auto started_us = now_us();
  spdlog::debug("run {} started: {} model(s), timeout {} ms", ctx->run_id, ctx->models.size(), run_timeout);
  st->driver = spawn_run_driver(
      sys, ctx, spec->workflow, std::move(root_task), run_timeout, sink,
      [st, run_models, started_us, reports, pools = ctx->pools, usage = ctx->usage,
       on_result = std::move(on_result)](result r, bool deadline_hit) {
        if (pools) pools->close();  // pooled agent instances end with the run
        for (auto& m : run_models) caf::anon_send_exit(m, caf::exit_reason::user_shutdown);
        auto wall_ms = (now_us() - started_us) / 1000;
        auto totals = usage->totals();
        auto out = to_public(std::move(r), deadline_hit, wall_ms, totals.run);
        out.reports = std::move(*reports);
        out.usage = std::move(totals.by_agent_and_pattern);
        if (on_result) {
          try {
            on_result(out);
          } catch (const std::exception& e) {  // the caller's code: its failure is not the run's
            spdlog::error("run result handler threw: {}", e.what());
          }
        }
        st->result = std::move(out);
        st->done.set_value();
      });
  {
    std::lock_guard<std::mutex> lock(impl_->runs_mutex);
    auto& runs = impl_->runs;
    runs.erase(std::remove_if(runs.begin(), runs.end(), [](auto& w) { return w.expired(); }), runs.end());
    runs.push_back(st);
  }
  Run run;
  run.state_ = st;
  return run;
}

RunResult Runtime::run(const Scenario& sc, std::optional<nlohmann::json> input, EventHandler on_event) {
  auto run = start(sc, std::move(input), std::move(on_event));
  auto result = runtime_access::take_result(run, std::chrono::milliseconds::max());
  return std::move(*result);  // nobody else holds this run
}

caf::actor_system& runtime_access::system(Runtime& rt) { return *rt.impl_->system; }

void runtime_access::adopt(Runtime& rt, const caf::actor& actor) {
  auto& impl = *rt.impl_;
  std::lock_guard<std::mutex> lock(impl.adopted_mutex);
  auto& list = impl.adopted;
  // Forget the ones that are gone, so that creating many over time does not grow the list.
  if (list.size() >= 64 && (list.size() & (list.size() - 1)) == 0)
    list.erase(std::remove_if(list.begin(), list.end(),
                              [](const caf::actor_addr& a) { return !caf::actor_cast<caf::actor>(a); }),
               list.end());
  list.push_back(actor.address());
}

std::weak_ptr<const void> runtime_access::lifetime(Runtime& rt) { return rt.impl_->alive; }

caf::actor runtime_access::model_provider(Runtime& rt, const model_def& m) { return rt.impl_->providers->provider_for(m); }

Run runtime_access::start(Runtime& rt, std::string run_id, const Scenario& scenario, std::optional<nlohmann::json> input,
                          EventHandler on_event, ResultHandler on_result) {
  return rt.start_as(std::move(run_id), scenario, std::move(input), std::move(on_event), std::move(on_result));
}

void runtime_access::set_cluster(Runtime& rt, caf::actor cluster) { rt.impl_->cluster = std::move(cluster); }

void runtime_access::offer_cluster_tools(Runtime& rt, const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(rt.impl_->cluster_tools_mutex);
  rt.impl_->cluster_tools.insert(names.begin(), names.end());
}

std::shared_ptr<const run_context> runtime_access::context(const Run& run) {
  return run.state_ ? run.state_->context : nullptr;
}

std::optional<RunResult> runtime_access::take_result(Run& run, std::chrono::milliseconds wait) {
  auto& finished = run.state_->finished;
  if (wait == std::chrono::milliseconds::max()) finished.wait();
  else if (finished.wait_for(wait) != std::future_status::ready) return std::nullopt;
  return std::move(run.state_->result);
}

size_t Runtime::live_actors() const { return impl_->system->registry().running(); }

nlohmann::json Runtime::model_pool_stats() const {
  auto pools = impl_->providers->pools();
  auto out = nlohmann::json::array();
  caf::scoped_actor self{*impl_->system};
  for (auto& pool : pools)
    self->request(pool, std::chrono::seconds(2), stats_atom::value)
      .receive([&](nlohmann::json& s) { out.push_back(std::move(s)); },
               [&](caf::error& e) { out.push_back({{"error", impl_->system->render(e)}}); });
  return out;
}

size_t Runtime::open_connections() const { return static_cast<size_t>(impl_->open_connections->load()); }

}  // namespace cohort
