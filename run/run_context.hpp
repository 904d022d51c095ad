#pragma once
// What every actor of one run shares: the scenario, the tools, the model provider
// actors and where events go. Read-only once the run starts.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "cohort/tool.hpp"
#include "spec/scenario.hpp"

namespace boost::asio {
class io_context;
}

namespace cohort {

class external_desk;
class resource_pools;
class usage_ledger;

struct run_context {
  std::string run_id;
  std::shared_ptr<const scenario> spec;
  std::shared_ptr<const nlohmann::json> input;  // the run's input, {{input}} in templates (shared, not copied)
  std::shared_ptr<const std::map<std::string, Tool>> tools;
  // Calls a tool of one of the scenario's MCP servers (server, tool, arguments, the most
  // milliseconds it may take) and returns its output; throws mcp_error or std::exception
  // (set by the runtime, agents/mcp_client.hpp).
  std::function<nlohmann::json(const std::string&, const std::string&, const nlohmann::json&, int)> mcp_call;
  std::map<std::string, caf::actor> models;  // model alias -> provider actor
  caf::actor events;                         // event sink
  bool all_events = true;                    // false: only pattern reports (nobody listens)
  int default_timeout_ms = 300000;
  size_t tool_slots = 8;                     // tool agents in flight per supervisor
  // Branches in flight per pattern that sets no max_concurrency (0: no limit): memory
  // then follows what runs, not what was asked for (a 1e6-item fan-out).
  size_t default_max_concurrency = 0;
  std::shared_ptr<std::atomic<int64_t>> retry_budget;  // retries left in this run (all branches)
  std::shared_ptr<usage_ledger> usage;        // model usage by agent and by pattern
  std::shared_ptr<resource_pools> pools;     // null when the scenario declares none
  // The run's own bus, barrier and blackboard (scenario::coordinated; else null): they
  // start with the run and end with it, so runs never see each other's messages.
  caf::actor bus;
  caf::actor barrier;
  caf::actor board;
  std::shared_ptr<external_desk> externals;  // where external agents hand in results (coordinated runs)
  boost::asio::io_context* io = nullptr;     // the runtime's I/O (a2a agents' HTTP calls)
  // The node's cluster membership when it has workers (node/cluster.hpp): placed leaf
  // agents' branches go through it; null: everything runs here.
  caf::actor cluster;
};

using run_context_ptr = std::shared_ptr<const run_context>;

// Milliseconds since the Unix epoch (task deadlines and event times use it).
int64_t now_ms();
int64_t now_us();

}  // namespace cohort
