#pragma once
// The resource pools of one run: capacities that branches anywhere in the tree share
// (the run's agent limit, a GPU, a browser, an agent's pool of started instances).
//
// A supervisor asks before it starts a branch that needs something. What is free is
// taken at once, without a message; otherwise the request waits in the pools' queue,
// highest priority first (then first come), and the supervisor gets (permit_atom,
// ticket) when it is granted. A request that cannot be served does not hold up
// later ones that need other pools. Each supervisor queues at most one request, so
// the queue is bounded by the supervisors alive, not by the branches still to start.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "spec/scenario.hpp"

namespace cohort {

class resource_pools {
 public:
  // Pools by index (scenario.resource_names), each with its capacity.
  explicit resource_pools(std::vector<int> capacity);

  // A ticket unique in this run, naming one request.
  uint64_t next_ticket();

  // True: `needs` are taken now. False: queued; `who` is sent (permit_atom, ticket) later.
  bool acquire(const resource_needs& needs, int priority, const caf::actor& who, uint64_t ticket);

  // Gives back what a branch held, and grants queued requests that now fit.
  void release(const resource_needs& needs);

  // Takes a queued request back. False when it was granted in the meantime: the
  // caller then holds the needs (its grant message is on the way) and must release them.
  bool withdraw(uint64_t ticket);

  // Agent pools: a started instance to borrow (empty: none idle), and its return.
  caf::actor borrow_instance(size_t pool);
  void return_instance(size_t pool, caf::actor instance);

  // Drops the idle instances: they refer to the run, which is over.
  void close();

 private:
  struct request {
    resource_needs needs;
    caf::actor who;
    uint64_t ticket;
  };
  using queue_key = std::pair<int64_t, uint64_t>;  // (-priority, arrival): best first

  bool fits(const resource_needs& needs) const;
  void take(const resource_needs& needs);
  std::vector<request> grant_queued();  // called with the lock held

  mutable std::mutex mutex_;
  std::vector<int> capacity_;
  std::vector<int> in_use_;
  std::vector<int> queued_on_;                       // queued requests that need each pool
  std::map<queue_key, request> queue_;
  std::unordered_map<uint64_t, queue_key> queued_tickets_;
  std::vector<std::vector<caf::actor>> idle_instances_;
  bool closed_ = false;
  uint64_t arrivals_ = 0;
  uint64_t tickets_ = 0;
};

// A granted claim, given back when it ends (also when a supervisor dies holding it).
class permit {
 public:
  permit() = default;
  permit(std::shared_ptr<resource_pools> pools, resource_needs needs)
      : pools_(std::move(pools)), needs_(std::move(needs)) {}
  permit(permit&& other) noexcept = default;
  permit& operator=(permit&& other) noexcept {
    if (this != &other) {
      reset();
      pools_ = std::move(other.pools_);
      needs_ = std::move(other.needs_);
    }
    return *this;
  }
  permit(const permit&) = delete;
  permit& operator=(const permit&) = delete;
  ~permit() { reset(); }

  void reset() {
    if (pools_) pools_->release(needs_);
    pools_.reset();
  }

 private:
  std::shared_ptr<resource_pools> pools_;
  resource_needs needs_;
};

// A request waiting in the queue. Unless claimed once granted, it is taken back when it
// goes (or, if it was granted meanwhile, what it got is given back): a supervisor that
// stops or dies while waiting leaks nothing.
class queued_request {
 public:
  queued_request() = default;
  queued_request(std::shared_ptr<resource_pools> pools, uint64_t ticket, resource_needs needs)
      : pools_(std::move(pools)), ticket_(ticket), needs_(std::move(needs)) {}
  queued_request(queued_request&&) noexcept = default;
  queued_request& operator=(queued_request&& other) noexcept {
    if (this != &other) {
      cancel();
      pools_ = std::move(other.pools_);
      ticket_ = other.ticket_;
      needs_ = std::move(other.needs_);
    }
    return *this;
  }
  queued_request(const queued_request&) = delete;
  queued_request& operator=(const queued_request&) = delete;
  ~queued_request() { cancel(); }

  bool waiting() const { return pools_ != nullptr; }
  bool is(uint64_t ticket) const { return waiting() && ticket == ticket_; }

  // It was granted: what it holds now.
  permit claim() {
    permit p(std::move(pools_), std::move(needs_));
    pools_.reset();
    return p;
  }

  void cancel() {
    if (pools_ && !pools_->withdraw(ticket_)) pools_->release(needs_);
    pools_.reset();
  }

 private:
  std::shared_ptr<resource_pools> pools_;
  uint64_t ticket_ = 0;
  resource_needs needs_;
};

}  // namespace cohort
