#pragma once
// A2A push notifications (docs/node.md, "A2A"): a client leaves a webhook for a task
// (tasks/pushNotificationConfig/set, or message/send's configuration) and the node POSTs
// the task there when it starts working and when it ends, with the client's token in
// X-A2A-Notification-Token. Each webhook gets the task's whole story in order, even when
// set after the task ended; a failed POST is tried twice more. The POSTs run on a thread
// of their own: a slow webhook delays nothing but its own notifications.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/run_registry.hpp"

namespace cohort::node {

class a2a_push {
 public:
  explicit a2a_push(run_registry& runs);
  ~a2a_push();  // pending notifications are dropped
  a2a_push(const a2a_push&) = delete;
  a2a_push& operator=(const a2a_push&) = delete;

  // Keeps `config` (A2A's PushNotificationConfig; its id defaults to the task's) for task
  // `task_id` and starts notifying it; a config of the same id is replaced. Returns the
  // config as kept. std::invalid_argument names the wrong field, under `at`.
  nlohmann::json set(const std::string& task_id, const std::string& context_id, const nlohmann::json& config,
                     const std::string& at);
  // Throws what set would for `config` (checked before a run starts for it).
  static void check(const nlohmann::json& config, const std::string& at);
  // The task's config of that id; null when there is none.
  nlohmann::json get(const std::string& task_id, const std::string& config_id) const;
  // The task's configs (an array).
  nlohmann::json list(const std::string& task_id) const;
  // Stops notifying that config; false when there was none.
  bool remove(const std::string& task_id, const std::string& config_id);

  // At most this many webhooks a task, and tasks with webhooks kept (the oldest go first).
  static constexpr size_t max_per_task = 10;
  static constexpr size_t max_tasks = 10000;

 private:
  struct impl;
  class subscription;
  std::unique_ptr<impl> impl_;
};

}  // namespace cohort::node
