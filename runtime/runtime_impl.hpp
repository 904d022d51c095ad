#pragma once
// What a Runtime holds (runtime.cpp, worker_context.cpp): its actor system, its I/O
// threads, tools, model providers and runs.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "agents/mcp_client.hpp"
#include "cohort/runtime.hpp"
#include "runtime/builtin_tools.hpp"
#include "runtime/model_providers.hpp"

namespace cohort {

struct Runtime::impl {
  RuntimeOptions options;
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  // Handlers pending in the io_context hold actor handles, so it must go before the
  // actor system; the actors holding connections must go before it.
  // The hint lets a lone I/O thread skip waking others for every handler.
  std::unique_ptr<boost::asio::io_context> io = std::make_unique<boost::asio::io_context>(options.io_threads);
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io->get_executor()};
  std::vector<std::thread> io_threads;
  std::atomic<int> io_threads_running{0};
  std::shared_ptr<std::map<std::string, Tool>> tools = std::make_shared<std::map<std::string, Tool>>(builtin_tools());
  std::map<std::string, ToolInfo> tool_infos = builtin_tool_infos();     // what models are told of tools
  std::shared_ptr<mcp_registry> mcp = std::make_shared<mcp_registry>();  // the scenarios' MCP servers
  std::map<std::string, mcp_server_def> offered_mcp_servers;              // options.mcp_servers, read
  std::mutex runs_mutex;
  std::vector<std::weak_ptr<Run::state>> runs;
  std::unique_ptr<model_providers> providers;  // made with the actor system
  int threads = 2;                             // scheduler threads
  // Coordination actors created through handles (cohort/coordination.hpp): stopped at
  // shutdown if their handles have not; `alive` tells the handles that it began.
  std::mutex adopted_mutex;
  std::vector<caf::actor_addr> adopted;
  std::shared_ptr<const void> alive = std::make_shared<int>(0);
  std::shared_ptr<std::atomic<int64_t>> open_connections = std::make_shared<std::atomic<int64_t>>(0);
  caf::actor cluster;  // the node's cluster membership, when it has a cluster port
  // Tools that workers of the cluster registered: a scenario may name them (placement
  // sends their branches to those workers).
  std::mutex cluster_tools_mutex;
  std::set<std::string> cluster_tools;

  // What a scenario's tool agents may name: this runtime's tools and the workers'.
  std::vector<std::string> known_tools();
  // What the loader lists MCP tools with, and the servers this runtime offers.
  mcp_access mcp_tools() const { return {mcp->lister(), offered_mcp_servers}; }

  explicit impl(RuntimeOptions o);
  ~impl();
};

}  // namespace cohort
