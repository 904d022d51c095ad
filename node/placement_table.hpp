#pragma once
// The head's view of its workers and the placement rule (docs/cluster.md): which worker
// a branch goes to, by labels, tools and free slots. Plain C++, no CAF: the cluster
// membership actor (cluster.cpp) owns one and feeds it times and events.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "messages/cluster.hpp"
#include "spec/scenario.hpp"

namespace cohort::node {

struct worker_entry {
  uint64_t id = 0;
  worker_info info;
  std::set<std::string> tools;
  int busy = 0;      // branches running there now
  int64_t done = 0;  // branches it answered
  int64_t joined_ms = 0;
  int64_t last_heartbeat_ms = 0;
};

class placement_table {
 public:
  enum class verdict { placed, wait, here, refuse };
  struct choice {
    verdict what = verdict::here;
    uint64_t worker = 0;  // placed
    std::string why;      // refuse: what no worker offers
  };

  uint64_t add(worker_info info, int64_t now_ms);
  void remove(uint64_t id);
  bool has(uint64_t id) const { return workers_.count(id) > 0; }
  size_t size() const { return workers_.size(); }

  // Where a branch of `agent` goes now, under the rule `where` (the agent's or its
  // pattern's): a worker with a free slot (placed), a busy one later (wait), the head
  // (here: no worker could ever take it and the rule allows the head), or nowhere
  // (refuse: the rule asks for labels or a tool no worker has).
  // `head_can`: the head itself could run it (a tool agent: the head has the tool).
  choice choose(const agent_def& agent, const placement_rule& where, placement_policy policy, bool head_can = true);
  void started(uint64_t id);
  void finished(uint64_t id);
  bool any_free() const;

  void heard_from(uint64_t id, int64_t now_ms);
  // The workers not heard from since `since_ms`.
  std::vector<uint64_t> silent_since(int64_t since_ms) const;

  const worker_entry* find(uint64_t id) const;
  // [{"id", "name", "labels", "slots", "busy", "done", "last_heartbeat_ms_ago", ...}]
  nlohmann::json describe(int64_t now_ms) const;

 private:
  bool suits(const worker_entry& w, const agent_def& agent, const placement_rule& where) const;

  std::map<uint64_t, worker_entry> workers_;
  uint64_t next_id_ = 1;
  uint64_t last_turn_ = 0;  // round_robin: the worker that had the last branch
};

}  // namespace cohort::node
