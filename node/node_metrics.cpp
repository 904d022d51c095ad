#include "node/node_metrics.hpp"

#include <algorithm>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace cohort::node {
namespace {

const prometheus::Histogram::BucketBoundaries latency_buckets{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

}  // namespace

node_metrics::node_metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  runs_ = &prometheus::BuildCounter().Name("cohort_runs_total").Help("Runs finished, by final status").Register(r);
  branches_ = &prometheus::BuildCounter()
                   .Name("cohort_branches_total")
                   .Help("Leaf branches of finished runs, by final state")
                   .Register(r);
  model_calls_ = &prometheus::BuildCounter().Name("cohort_model_calls_total").Help("Model calls, by model").Register(r);
  tokens_ = &prometheus::BuildCounter()
                 .Name("cohort_tokens_total")
                 .Help("Tokens, by model and kind (prompt, completion)")
                 .Register(r);
  cost_ = &prometheus::BuildCounter().Name("cohort_cost_total").Help("Cost at the models' prices, by model").Register(r);
  call_seconds_ = &prometheus::BuildHistogram()
                       .Name("cohort_agent_call_seconds")
                       .Help("How long an llm agent's call took (retries included), by model")
                       .Register(r);
  requests_ = &prometheus::BuildCounter()
                   .Name("cohort_http_requests_total")
                   .Help("HTTP requests to the node, by route and status")
                   .Register(r);
  request_seconds_ = &prometheus::BuildHistogram()
                          .Name("cohort_http_request_seconds")
                          .Help("Time to answer an HTTP request (an event stream: until it starts), by route")
                          .Register(r);
  router_calls_ = &prometheus::BuildCounter()
                       .Name("cohort_router_requests_total")
                       .Help("Chat completions through the router, by model and outcome (ok or the error's kind)")
                       .Register(r);
  router_tokens_ = &prometheus::BuildCounter()
                        .Name("cohort_router_tokens_total")
                        .Help("Tokens through the router, by model and kind (prompt, completion)")
                        .Register(r);
  router_cost_ = &prometheus::BuildCounter().Name("cohort_router_cost_total").Help("Router calls' cost, by model").Register(r);
  router_seconds_ = &prometheus::BuildHistogram()
                         .Name("cohort_router_request_seconds")
                         .Help("Time from a router request to its answer's end, by model")
                         .Register(r);
  workflow_calls_ = &prometheus::BuildCounter()
                         .Name("cohort_router_workflow_requests_total")
                         .Help("Router calls by X-Workflow-Id (the first 1000 ids; later ones count as \"other\")")
                         .Register(r);
  workflow_tokens_ = &prometheus::BuildCounter()
                          .Name("cohort_router_workflow_tokens_total")
                          .Help("Router tokens by X-Workflow-Id and kind")
                          .Register(r);
  workflow_cost_ = &prometheus::BuildCounter()
                        .Name("cohort_router_workflow_cost_total")
                        .Help("Router cost by X-Workflow-Id")
                        .Register(r);
  in_flight_ = &prometheus::BuildGauge().Name("cohort_runs_in_flight").Help("Runs running now").Register(r).Add({});
  watchers_ = &prometheus::BuildGauge().Name("cohort_sse_watchers").Help("Open event streams").Register(r).Add({});
  run_waiters_ = &prometheus::BuildGauge()
                      .Name("cohort_run_waiters")
                      .Help("Clients waiting for a run's end in their request (wait_ms, A2A blocking sends)")
                      .Register(r)
                      .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("cohort_queue_depth")
                      .Help("Submitted runs waiting for a free slot (--queue)")
                      .Register(r)
                      .Add({});
}

node_metrics::~node_metrics() = default;

void node_metrics::run_started() { in_flight_->Increment(); }

void node_metrics::run_not_started() { in_flight_->Decrement(); }

void node_metrics::queue_depth(size_t waiting) { queue_depth_->Set(static_cast<double>(waiting)); }

void node_metrics::run_waiters(size_t waiting) { run_waiters_->Set(static_cast<double>(waiting)); }

void node_metrics::run_finished(const RunResult& r, const std::map<std::string, std::string>& models, bool was_running) {
  if (was_running) in_flight_->Decrement();
  runs_->Add({{"status", r.status}}).Increment();
  branches_->Add({{"state", "succeeded"}}).Increment(static_cast<double>(r.branches.succeeded));
  branches_->Add({{"state", "failed"}}).Increment(static_cast<double>(r.branches.failed));
  branches_->Add({{"state", "timed_out"}}).Increment(static_cast<double>(r.branches.timed_out));
  branches_->Add({{"state", "cancelled"}}).Increment(static_cast<double>(r.branches.cancelled));
  if (!r.usage.is_object() || !r.usage.contains("agents")) return;
  for (const auto& [agent, u] : r.usage["agents"].items()) {
    auto it = models.find(agent);
    const std::string model = it == models.end() ? "unknown" : it->second;
    model_calls_->Add({{"model", model}}).Increment(u.value("model_calls", 0.0));
    tokens_->Add({{"model", model}, {"kind", "prompt"}}).Increment(u.value("prompt_tokens", 0.0));
    tokens_->Add({{"model", model}, {"kind", "completion"}}).Increment(u.value("completion_tokens", 0.0));
    cost_->Add({{"model", model}}).Increment(u.value("cost", 0.0));
  }
}

void node_metrics::agent_call(const std::string& model, double seconds) {
  call_seconds_->Add({{"model", model}}, latency_buckets).Observe(seconds);
}

void node_metrics::http_request(const std::string& route, unsigned status, double seconds) {
  requests_->Add({{"route", route}, {"status", std::to_string(status)}}).Increment();
  request_seconds_->Add({{"route", route}}, latency_buckets).Observe(seconds);
}

void node_metrics::watchers(int delta) {
  if (delta > 0) watchers_->Increment(delta);
  else watchers_->Decrement(-delta);
}

std::string node_metrics::workflow_label(const std::string& workflow) {
  constexpr size_t max_workflows = 1000;
  if (workflow.empty()) return "none";
  std::lock_guard<std::mutex> lock(workflows_mutex_);
  if (workflows_.count(workflow)) return workflow;
  if (workflows_.size() >= max_workflows) return "other";
  workflows_.insert(workflow);
  return workflow;
}

void node_metrics::router_call(const std::string& model, const std::string& workflow, const std::string& outcome,
                               int64_t prompt_tokens, int64_t completion_tokens, double cost, double seconds) {
  auto prompt = static_cast<double>(prompt_tokens), completion = static_cast<double>(completion_tokens);
  router_calls_->Add({{"model", model}, {"outcome", outcome}}).Increment();
  router_tokens_->Add({{"model", model}, {"kind", "prompt"}}).Increment(prompt);
  router_tokens_->Add({{"model", model}, {"kind", "completion"}}).Increment(completion);
  router_cost_->Add({{"model", model}}).Increment(cost);
  router_seconds_->Add({{"model", model}}, latency_buckets).Observe(seconds);
  auto label = workflow_label(workflow);
  workflow_calls_->Add({{"workflow", label}}).Increment();
  workflow_tokens_->Add({{"workflow", label}, {"kind", "prompt"}}).Increment(prompt);
  workflow_tokens_->Add({{"workflow", label}, {"kind", "completion"}}).Increment(completion);
  workflow_cost_->Add({{"workflow", label}}).Increment(cost);
}

std::string node_metrics::render() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

std::string route_label(const std::string& path) {
  static const char* const fixed[] = {"/healthz",  "/readyz", "/metrics", "/v1/runs", "/v1/scenarios", "/v1/chat/completions",
                                      "/v1/models", "/v1/cluster"};
  for (const char* f : fixed)
    if (path == f) return f;
  if (path.rfind("/v1/scenarios/", 0) == 0) return "/v1/scenarios/{name}";
  if (path.rfind("/a2a/", 0) == 0) return path.find("/.well-known/") != std::string::npos ? "/a2a/{name}/card" : "/a2a/{name}";
  if (path.rfind("/v1/workflows/", 0) == 0) {
    auto rest = path.substr(14);
    auto tail = rest.substr(std::min(rest.find('/'), rest.size()));
    if (tail == "/sync/barrier") return "/v1/workflows/{id}/sync/barrier";
    auto action = tail.substr(tail.rfind('/') + 1);
    if (tail.rfind("/agents/", 0) == 0 &&
        (action == "send" || action == "messages" || action == "register" || action == "result"))
      return "/v1/workflows/{id}/agents/{agent}/" + action;
  }
  if (path.rfind("/v1/runs/", 0) == 0) {
    auto rest = path.substr(9);
    auto slash = rest.find('/');
    if (slash == std::string::npos) return "/v1/runs/{id}";
    auto action = rest.substr(slash + 1);
    if (action == "events" || action == "cancel") return "/v1/runs/{id}/" + action;
  }
  return "other";
}

}  // namespace cohort::node
