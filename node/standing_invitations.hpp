#pragma once
// The listening workers a head node keeps as its own (`cohort serve --workers`, or
// node.workers in its config; docs/cluster.md): each is invited at start and again every
// round, so one that restarted, or that the head lost, is taken back. A worker already
// serving this head takes the repeated invitation as a no-op. The rounds run on a thread of
// their own: a worker slow to answer delays only the next round, never the node.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort::node {

struct worker_address {
  std::string host;
  uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

class standing_invitations {
 public:
  // `invite` answers "" when the worker took the invitation, else why not.
  using invite_fn = std::function<std::string(const std::string& host, uint16_t port)>;

  standing_invitations(std::vector<worker_address> workers, invite_fn invite, int every_ms);
  ~standing_invitations();  // stops, after the invitation in progress
  standing_invitations(const standing_invitations&) = delete;
  standing_invitations& operator=(const standing_invitations&) = delete;

  // [{"address", "accepted", "answer", "rounds"}] in the order given: for GET /v1/cluster.
  nlohmann::json describe() const;

 private:
  struct standing {
    worker_address address;
    std::string answer = "not invited yet";
    bool accepted = false;
    int64_t rounds = 0;
  };

  void run();
  void invite_one(size_t i);

  invite_fn invite_;
  int every_ms_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<standing> workers_;
  std::thread thread_;
};

}  // namespace cohort::node
