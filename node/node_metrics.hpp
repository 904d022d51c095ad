#pragma once
// The node's Prometheus metrics (GET /metrics, text exposition through prometheus-cpp):
// runs by final status, branches by final state, model calls, tokens and cost by model,
// agent call latency by model, HTTP requests by route and status with their latency,
// runs in flight, SSE watchers and the submission queue's depth.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "cohort/runtime.hpp"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace cohort::node {

class node_metrics {
 public:
  node_metrics();
  ~node_metrics();

  // `models`: each agent's model (from the scenario), to count usage by model.
  // `was_running`: false for a queued run cancelled before it started.
  void run_finished(const RunResult& r, const std::map<std::string, std::string>& models, bool was_running = true);
  // A leaf agent's call finished (an llm agent: its model).
  void agent_call(const std::string& model, double seconds);
  void run_started();
  void run_not_started();  // started, then refused by the runtime (its input)
  void http_request(const std::string& route, unsigned status, double seconds);
  void watchers(int delta);
  // A call through the model router: its model, the caller's X-Workflow-Id ("" none),
  // "ok" or the error's kind, its usage, cost and time.
  void router_call(const std::string& model, const std::string& workflow, const std::string& outcome,
                   int64_t prompt_tokens, int64_t completion_tokens, double cost, double seconds);
  void queue_depth(size_t waiting);
  void run_waiters(size_t waiting);  // clients waiting for a run's end (wait_ms, A2A blocking)

  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* runs_;
  prometheus::Family<prometheus::Counter>* branches_;
  prometheus::Family<prometheus::Counter>* model_calls_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* cost_;
  prometheus::Family<prometheus::Histogram>* call_seconds_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* request_seconds_;
  prometheus::Family<prometheus::Counter>* router_calls_;
  prometheus::Family<prometheus::Counter>* router_tokens_;
  prometheus::Family<prometheus::Counter>* router_cost_;
  prometheus::Family<prometheus::Histogram>* router_seconds_;
  prometheus::Family<prometheus::Counter>* workflow_calls_;
  prometheus::Family<prometheus::Counter>* workflow_tokens_;
  prometheus::Family<prometheus::Counter>* workflow_cost_;
  // A workflow label per X-Workflow-Id, up to a bound: the clients choose the ids.
  std::string workflow_label(const std::string& workflow);
  std::mutex workflows_mutex_;
  std::unordered_set<std::string> workflows_;
  prometheus::Gauge* in_flight_;
  prometheus::Gauge* watchers_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* run_waiters_;
};

// The route of a request path, for labels: ids become {id} so the label set stays small.
std::string route_label(const std::string& path);

}  // namespace cohort::node
