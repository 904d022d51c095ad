#include "run/resource_pools.hpp"

#include <algorithm>

#include <caf/send.hpp>

#include "messages/atoms.hpp"

namespace cohort {

resource_pools::resource_pools(std::vector<int> capacity)
    : capacity_(std::move(capacity)), in_use_(capacity_.size(), 0),
      queued_on_(capacity_.size(), 0), idle_instances_(capacity_.size()) {}

uint64_t resource_pools::next_ticket() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ++tickets_;
}

bool resource_pools::fits(const resource_needs& needs) const {
  return std::all_of(needs.begin(), needs.end(),
                     [&](const resource_need& n) { return in_use_[n.pool] + n.amount <= capacity_[n.pool]; });
}

void resource_pools::take(const resource_needs& needs) {
  for (auto& n : needs) in_use_[n.pool] += n.amount;
}

bool resource_pools::acquire(const resource_needs& needs, int priority, const caf::actor& who, uint64_t ticket) {
  std::vector<request> granted;
  bool now = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Nobody waits on these pools: no order to keep, take it if it fits.
    bool contended = std::any_of(needs.begin(), needs.end(), [&](const resource_need& n) { return queued_on_[n.pool] > 0; });
    if (!contended && fits(needs)) {
      take(needs);
      return true;
    }
    queue_key key{-static_cast<int64_t>(priority), ++arrivals_};
    queue_.emplace(key, request{needs, who, ticket});
    queued_tickets_.emplace(ticket, key);
    for (auto& n : needs) ++queued_on_[n.pool];
    granted = grant_queued();
    auto self = std::find_if(granted.begin(), granted.end(), [&](const request& r) { return r.ticket == ticket; });
    if (self != granted.end()) {
      now = true;
      granted.erase(self);
    }
  }
  for (auto& r : granted) caf::anon_send(r.who, permit_atom::value, r.ticket);
  return now;
}

void resource_pools::release(const resource_needs& needs) {
  std::vector<request> granted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& n : needs) in_use_[n.pool] -= n.amount;
    granted = grant_queued();
  }
  for (auto& r : granted) caf::anon_send(r.who, permit_atom::value, r.ticket);
}

// In queue order. A request that does not fit blocks its pools for everything behind
// it (so a big or low request is not starved by a stream of small ones), but not
// other pools: a branch waiting for the GPU does not hold up one that needs a browser.
std::vector<resource_pools::request> resource_pools::grant_queued() {
  std::vector<request> granted;
  std::vector<bool> blocked(capacity_.size(), false);
  for (auto it = queue_.begin(); it != queue_.end();) {
    auto& needs = it->second.needs;
    bool held_up = std::any_of(needs.begin(), needs.end(), [&](const resource_need& n) { return blocked[n.pool]; });
    if (held_up || !fits(needs)) {
      for (auto& n : needs) blocked[n.pool] = true;
      ++it;
      continue;
    }
    take(needs);
    for (auto& n : needs) --queued_on_[n.pool];
    queued_tickets_.erase(it->second.ticket);
    granted.push_back(std::move(it->second));
    it = queue_.erase(it);
  }
  return granted;
}

bool resource_pools::withdraw(uint64_t ticket) {
  std::vector<request> granted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = queued_tickets_.find(ticket);
    if (found == queued_tickets_.end()) return false;
    auto it = queue_.find(found->second);
    for (auto& n : it->second.needs) --queued_on_[n.pool];
    queue_.erase(it);
    queued_tickets_.erase(found);
    granted = grant_queued();  // it may have been what held others up
  }
  for (auto& r : granted) caf::anon_send(r.who, permit_atom::value, r.ticket);
  return true;
}

caf::actor resource_pools::borrow_instance(size_t pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& idle = idle_instances_[pool];
  if (idle.empty()) return {};
  auto instance = std::move(idle.back());
  idle.pop_back();
  return instance;
}

void resource_pools::return_instance(size_t pool, caf::actor instance) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      idle_instances_[pool].push_back(std::move(instance));
      return;
    }
  }
  caf::anon_send_exit(instance, caf::exit_reason::user_shutdown);  // late: the run is over
}

void resource_pools::close() {
  std::vector<std::vector<caf::actor>> idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle.swap(idle_instances_);
    idle_instances_.resize(capacity_.size());
    closed_ = true;
  }
  for (auto& instances : idle)
    for (auto& a : instances) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

}  // namespace cohort
