#include "node/standing_invitations.hpp"

#include <spdlog/spdlog.h>

namespace cohort::node {

standing_invitations::standing_invitations(std::vector<worker_address> workers, invite_fn invite, int every_ms)
    : invite_(std::move(invite)), every_ms_(every_ms) {
  for (auto& w : workers) workers_.push_back(standing{std::move(w)});
  thread_ = std::thread([this] { run(); });
}

standing_invitations::~standing_invitations() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void standing_invitations::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    for (size_t i = 0; i < workers_.size() && !stopping_; ++i) {
      lock.unlock();
      invite_one(i);
      lock.lock();
    }
    wake_.wait_for(lock, std::chrono::milliseconds(every_ms_), [&] { return stopping_; });
  }
}

// Says so in the log only when a worker's answer changes: a worker that stays away
// is one warning, not one a round.
void standing_invitations::invite_one(size_t i) {
  std::string host;
  uint16_t port = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    host = workers_[i].address.host;
    port = workers_[i].address.port;
  }
  auto why = invite_(host, port);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& w = workers_[i];
  ++w.rounds;
  if (why == w.answer && w.rounds > 1) return;
  if (why.empty())
    spdlog::info("cluster: the worker {} took the invitation", w.address.text());
  else
    spdlog::warn("cluster: inviting {} again every {} ms: {}", w.address.text(), every_ms_, why);
  w.answer = why;
  w.accepted = why.empty();
}

nlohmann::json standing_invitations::describe() const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto out = nlohmann::json::array();
  for (const auto& w : workers_)
    out.push_back({{"address", w.address.text()}, {"accepted", w.accepted}, {"answer", w.answer}, {"rounds", w.rounds}});
  return out;
}

}  // namespace cohort::node
