// The supervisor engine: one loop for every pattern. It starts branches as the
// pattern releases them (never more than max_concurrency at once), gives each a
// deadline, turns timeouts and crashes into results, cancels what is still running
// when the pattern is done or the supervisor is cancelled, and sums the stats.
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/agent_support.hpp"
#include "actors/agents.hpp"
#include "actors/pattern.hpp"
#include "messages/atoms.hpp"
#include "messages/cancel.hpp"

namespace cohort {
namespace {

struct supervisor_state {
  const char* name = "supervisor";
  task current;
  caf::response_promise promise;
  std::unique_ptr<pattern> plan;
  std::unordered_map<size_t, caf::actor> running;
  size_t limit = 0;  // max branches in flight
  run_stats stats;
  int64_t start_us = 0;
  bool done = false;       // outcome decided: nothing new starts
  bool delivered = false;
  result final_result;     // held while cancelled children report back
};

// How long a decided supervisor waits for its cancelled children to confirm.
constexpr auto cancel_grace = std::chrono::milliseconds(1000);

using supervisor_actor = caf::stateful_actor<supervisor_state>;

const char* kind_name(node_kind k) {
  switch (k) {
    case node_kind::fan_out: return "fan_out";
    case node_kind::pipeline: return "pipeline";
    default: return "agent";
  }
}

int own_timeout(const run_context& ctx, const workflow_node& node) {
  if (node.timeout_ms > 0) return node.timeout_ms;
  if (node.kind == node_kind::agent) {
    auto it = ctx.spec->agents.find(node.agent);
    if (it != ctx.spec->agents.end()) return it->second.timeout_ms;
  }
  return 0;
}

class engine {
 public:
  engine(supervisor_actor* self, run_context_ptr ctx, std::shared_ptr<const workflow_node> node)
      : self_(self), ctx_(std::move(ctx)), node_(std::move(node)) {}

  caf::result<result> start(const task& t) {
    auto& st = self_->state;
    st.current = t;
    st.start_us = now_us();
    st.stats.start_ms = now_ms();
    st.promise = self_->make_response_promise();
    emit(*ctx_, t, event_kind::started, kind_name(node_->kind));
    result error;
    st.plan = node_->kind == node_kind::pipeline ? make_pipeline(*node_, t)
                                                 : make_fan_out(*node_, t, *ctx_, error);
    if (!st.plan) {
      finish(std::move(error));
      return st.promise;
    }
    st.limit = node_->max_concurrency > 0 ? static_cast<size_t>(node_->max_concurrency)
                                          : std::numeric_limits<size_t>::max();
    pump();
    return st.promise;
  }

  void cancel_all(const std::string& reason) {
    auto& st = self_->state;
    if (st.done) return;
    auto r = failure(outcome::cancelled, "cancelled", reason);
    r.output = st.plan ? st.plan->partial() : nlohmann::json();
    finish(std::move(r));
  }

 private:
  // Starts branches while the pattern has some and the limit allows.
  void pump() {
    auto& st = self_->state;
    while (!st.done && st.running.size() < st.limit) {
      auto b = st.plan->next();
      if (!b) break;
      dispatch(std::move(*b));
    }
    if (!st.done && st.running.empty()) finish(st.plan->idle());
  }

  void dispatch(branch b) {
    auto& st = self_->state;
    auto child = spawn_node(self_->system(), ctx_, b.node);
    auto timeout = child_timeout_ms(*ctx_, st.current, own_timeout(*ctx_, *b.node));
    task t;
    t.run_id = st.current.run_id;
    t.path = st.current.path + "/" + b.label;
    t.input = st.current.input;
    t.bindings = std::move(b.bindings);
    t.deadline_ms = child_deadline_ms(st.current, timeout);
    t.attempt = 1;
    auto index = b.index;
    st.running.emplace(index, child);
    auto path = t.path;
    self_->request(child, std::chrono::milliseconds(timeout), std::move(t))
      .then([=](result& r) { on_result(index, std::move(r)); },
            [=](caf::error& err) { on_error(index, path, timeout, err); });
  }

  void on_error(size_t index, const std::string& path, int64_t timeout, const caf::error& err) {
    auto& st = self_->state;
    auto it = st.running.find(index);
    if (it == st.running.end()) return;
    result r;
    if (err == caf::sec::request_timeout) {
      // Timed out is not abandoned: the child is told to stop (and close its requests).
      self_->send(it->second, cancel{"timed out after " + std::to_string(timeout) + " ms"});
      r = failure(outcome::timed_out, "timeout",
                  path + ": no result within " + std::to_string(timeout) + " ms");
    } else {
      r = failure(outcome::failed, "crashed", path + ": " + self_->system().render(err));
    }
    r.stats.count(r.status);
    on_result(index, std::move(r));
  }

  void on_result(size_t index, result r) {
    auto& st = self_->state;
    if (st.delivered || !st.running.erase(index)) return;  // late or duplicate: ignore
    st.stats.add(r.stats);
    if (st.done) {  // a cancelled child confirming
      if (st.running.empty()) deliver();
      return;
    }
    if (auto final_result = st.plan->settle(index, std::move(r)))
      finish(std::move(*final_result));
    else
      pump();
  }

  // The outcome is decided: stop whatever still runs, and deliver once the cancelled
  // children have confirmed (so their branches are counted), or after a grace period.
  void finish(result r) {
    auto& st = self_->state;
    st.done = true;
    st.final_result = std::move(r);
    if (st.plan) st.stats.count(outcome::cancelled, static_cast<int64_t>(st.plan->unstarted()));
    if (st.running.empty()) {
      deliver();
      return;
    }
    for (auto& kv : st.running) self_->send(kv.second, cancel{"outcome decided at " + st.current.path});
    self_->delayed_send(self_, cancel_grace, deadline_atom::value);
  }

 public:
  void grace_expired() {
    auto& st = self_->state;
    if (st.delivered) return;
    st.stats.count(outcome::cancelled, static_cast<int64_t>(st.running.size()));
    st.running.clear();
    deliver();
  }

 private:
  void deliver() {
    auto& st = self_->state;
    st.delivered = true;
    auto r = std::move(st.final_result);
    if (!r.ok() && r.output.is_null() && st.plan) r.output = st.plan->partial();  // keep what finished
    r.stats = st.stats;
    r.stats.end_ms = now_ms();
    emit(*ctx_, st.current, event_kind::finished, kind_name(node_->kind), r.status,
         r.error.message, now_us() - st.start_us);
    st.promise.deliver(std::move(r));
    st.promise = caf::response_promise{};
    self_->quit();
  }

  supervisor_actor* self_;
  run_context_ptr ctx_;
  std::shared_ptr<const workflow_node> node_;
};

caf::behavior supervisor(supervisor_actor* self, run_context_ptr ctx,
                         std::shared_ptr<const workflow_node> node) {
  auto eng = std::make_shared<engine>(self, std::move(ctx), std::move(node));
  return {
    [=](const task& t) { return eng->start(t); },
    [=](const cancel& c) { eng->cancel_all(c.reason); },
    [=](deadline_atom) { eng->grace_expired(); },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, const run_context_ptr& ctx,
                            const std::shared_ptr<const workflow_node>& node) {
  return sys.spawn(supervisor, ctx, node);
}

caf::actor spawn_node(caf::actor_system& sys, const run_context_ptr& ctx,
                      const std::shared_ptr<const workflow_node>& node) {
  if (node->kind != node_kind::agent) return spawn_supervisor(sys, ctx, node);
  const auto& agent = ctx->spec->agents.at(node->agent);
  return agent.type == "tool" ? spawn_tool_agent(sys, ctx, agent) : spawn_llm_agent(sys, ctx, agent);
}

}  // namespace cohort
