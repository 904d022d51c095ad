#pragma once
// The membership actor's logic (cluster.cpp holds its table of handlers): joins,
// heartbeats, placement, the branches in flight on each worker, and what happens when
// a worker is lost. Every branch placed on a worker ends in exactly one answer to its
// stand-in: the worker's, or node_lost; a late answer from a lost worker is dropped.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <nlohmann/json.hpp>

#include "agents/remote_agent.hpp"
#include "messages/cluster.hpp"
#include "node/cluster.hpp"
#include "node/placement_table.hpp"

namespace cohort::node {

using cluster_flush_atom = caf::atom_constant<caf::atom("cflush")>;

class cluster_membership {
 public:
  cluster_membership(caf::event_based_actor* self, cluster_options options);

  std::string challenge();
  worker_welcome join(worker_info& info, const std::string& proof, const caf::actor& host);
  bool heartbeat(uint64_t worker);
  void place(placement_request& req);
  void answered(branch_answer& a);
  void answered(std::vector<branch_answer>& batch);
  void flush();  // the orders placed since the last flush, one batch per worker
  void withdraw(const branch_cancel& c);
  run_spec spec_of(const std::string& run_id);
  void tick();
  void host_down(const caf::down_msg& dm);
  nlohmann::json status();

 private:
  struct in_flight {
    uint64_t worker = 0;
    caf::actor requester;  // null once withdrawn: the answer only frees the slot
    std::string path;
  };
  struct pending_challenge {
    std::string text;
    int64_t expires_ms = 0;
  };

  std::string refusal(const worker_info& info, const std::string& proof);
  placement_table::choice choose(const placement_request& req);
  bool from_host_of(uint64_t worker) const;
  void act(placement_request& req, const placement_table::choice& c);
  void pump(bool full);
  void lose(uint64_t worker, const std::string& why);

  caf::event_based_actor* self_;
  cluster_options options_;
  placement_table table_;
  std::map<uint64_t, caf::actor> hosts_;
  std::unordered_map<uint64_t, in_flight> in_flight_;  // by request id
  std::deque<placement_request> queue_;                // waiting for a free slot
  std::map<std::string, std::weak_ptr<const run_context>> runs_;
  std::map<caf::actor_addr, pending_challenge> challenges_;
  std::map<uint64_t, std::vector<branch_order>> orders_out_;  // by worker, until the flush
  bool flush_scheduled_ = false;
  int64_t placed_ = 0, answered_ = 0, ran_here_ = 0, refused_ = 0;
  int64_t lost_workers_ = 0, lost_branches_ = 0, late_answers_ = 0, refused_joins_ = 0;
};

}  // namespace cohort::node
