#include "workflow/run_driver.hpp"

#include <optional>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "messages/event.hpp"
#include "run/run_events.hpp"
#include "workflow/retry.hpp"
#include "workflow/spawn_node.hpp"

namespace cohort {
using final_handler = std::shared_ptr<result_handler>;
}
// A callback inside a local message; it never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::final_handler)

namespace cohort {
namespace {

using done_atom = caf::atom_constant<caf::atom("rundone")>;
using root_retry_atom = caf::atom_constant<caf::atom("rootretry")>;

// The run from the outside: it starts the root, retries it when the root node's retry
// policy says so (nothing else supervises the root), enforces the run's deadline, and
// reports the one final result.
class run_driver_logic {
 public:
  run_driver_logic(caf::event_based_actor* self, run_context_ptr ctx, node_ptr node, task t,
                   int64_t run_timeout_ms, caf::actor sink, result_handler done)
      : self_(self), ctx_(std::move(ctx)), node_(std::move(node)), task_(std::move(t)),
        run_timeout_ms_(run_timeout_ms), sink_(std::move(sink)),
        handler_(std::make_shared<result_handler>(std::move(done))) {
    // The root is a branch of nothing: what it says of itself as a branch is applied here.
    if (node_->priority) task_.priority = *node_->priority;
    if (node_->placement) task_.placement = &*node_->placement;
  }

  void start() {
    self_->delayed_send(self_, std::chrono::milliseconds(run_timeout_ms_), deadline_atom::value);
    // A root that dies without answering (an exception in a pattern) ends the run now:
    // the pending request alone would wait for its timeout.
    self_->set_down_handler([this](caf::down_msg& dm) { root_down(dm); });
    start_attempt();
  }

  void deadline() {
    if (finished_) return;
    deadline_hit_ = true;
    if (!root_) {  // between two attempts: the last one's result is the run's
      end_between_attempts(outcome::timed_out, "timeout",
                           task_.path + ": the run's deadline passed before attempt " + std::to_string(task_.attempt));
      return;
    }
    // High priority: the root's mailbox may hold thousands of results ahead of it.
    self_->send<caf::message_priority::high>(root_, cancel{"run timed out after " + std::to_string(run_timeout_ms_) + " ms"});
  }

  void cancel_run(const cancel& c) {
    cancelled_ = true;
    if (root_) self_->send<caf::message_priority::high>(root_, c);
    else end_between_attempts(outcome::cancelled, "cancelled", c.reason);
  }

  void retry_root() {
    if (!finished_) start_attempt();
  }

 private:
  void start_attempt() {
    root_ = spawn_node(self_->system(), ctx_, node_);
    self_->monitor(root_);
    auto root_id = root_.id();
    // The root answers a cancel with what it has; the margin covers that answer.
    auto grace = std::chrono::milliseconds(std::max<int64_t>(0, task_.deadline_ms - now_ms()) + 5000);
    self_->request(root_, grace, task_).then(
        [this, root_id](result& r) { if (root_ && root_.id() == root_id) answered(std::move(r)); },
        [this, root_id](caf::error& err) {
          if (!root_ || root_.id() != root_id) return;
          self_->send(root_, cancel{"run driver gave up"});
          finish(failure(deadline_hit_ ? outcome::timed_out : outcome::failed, deadline_hit_ ? "timeout" : "crashed",
                         task_.path + ": the workflow did not answer: " + self_->system().render(err)));
        });
  }

  void answered(result r) {
    const auto& policy = node_->retry;
    // A root placed on a worker that died runs again as the same attempt, as a branch would.
    bool lost = r.error.kind == "node_lost";
    bool again = !r.ok() && r.status != outcome::cancelled && !deadline_hit_ && !cancelled_ &&
                 (lost ? retries_lost(policy, lost_) : retries(policy, task_.attempt, r.error));
    auto delay = again ? backoff_ms(policy, task_.attempt, r.error) : 0;
    // A retry that could not start before the deadline would only turn this answer
    // into a bare timeout: the run ends with it instead.
    again = again && now_ms() + delay < task_.deadline_ms && ctx_->retry_budget &&
            ctx_->retry_budget->fetch_sub(1) > 0;
    if (!again) return finish(std::move(r));
    // The attempt's work counts; its end state does not: the run is not over. Until
    // the next attempt answers, this one is what the run has.
    before_last_ = spent_;
    auto spent = r.stats;
    spent.succeeded = spent.failed = spent.timed_out = spent.cancelled = 0;
    spent.retries += 1;
    spent_.add(spent);
    last_ = std::move(r);
    self_->demonitor(root_);
    root_ = caf::actor{};
    last_lost_ = lost;
    ++(lost ? lost_ : task_.attempt);
    self_->delayed_send(self_, std::chrono::milliseconds(delay), root_retry_atom::value);
  }

  // The run ends while it waits to retry: the failed attempt's counts and partial
  // output are the run's, under the state that ended it.
  void end_between_attempts(outcome status, std::string kind, std::string why) {
    if (!last_) return finish(failure(status, std::move(kind), std::move(why)));
    auto r = std::move(*last_);
    r.status = status;
    r.error.message = why + " (the last attempt: " + r.error.kind + ": " + r.error.message + ")";
    r.error.kind = std::move(kind);
    r.error.retry_after_ms = -1;
    spent_ = before_last_;
    if (!last_lost_) --task_.attempt;  // the next one never ran
    finish(std::move(r));
  }

  void root_down(const caf::down_msg& dm) {
    if (!root_ || dm.source != root_.address()) return;
    finish(failure(outcome::failed, "crashed",
                   task_.path + ": the workflow ended without answering (" + self_->system().render(dm.reason) + ")"));
  }

  // Every way the run ends comes here: the work of earlier attempts is added once.
  void finish(result r) {
    if (finished_) return;
    finished_ = true;
    r.attempts = task_.attempt;
    r.stats.add(spent_);
    if (sink_) self_->send(sink_, done_atom::value, std::move(r), deadline_hit_, handler_);
    else (*handler_)(std::move(r), deadline_hit_);
    self_->quit();
  }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  node_ptr node_;
  task task_;  // kept: a retried root gets it again
  int lost_ = 0;            // times the root's worker was lost
  bool last_lost_ = false;  // the attempt waiting to run again was lost with its worker
  int64_t run_timeout_ms_;
  caf::actor sink_;
  final_handler handler_;
  caf::actor root_;     // the current attempt's; none between attempts
  run_stats spent_;     // the work of failed attempts
  run_stats before_last_;       // spent_ without the last failed attempt
  std::optional<result> last_;  // the last failed attempt, while a retry waits
  bool deadline_hit_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
};

caf::behavior run_driver(caf::event_based_actor* self, run_context_ptr ctx, node_ptr node, task t,
                         int64_t run_timeout_ms, caf::actor sink, result_handler done) {
  auto logic = std::make_shared<run_driver_logic>(self, std::move(ctx), std::move(node), std::move(t),
                                                  run_timeout_ms, std::move(sink), std::move(done));
  logic->start();
  return {
    [=](deadline_atom) { logic->deadline(); },
    [=](const cancel& c) { logic->cancel_run(c); },
    [=](root_retry_atom) { logic->retry_root(); },
  };
}

caf::behavior event_sink(caf::event_based_actor* self, event_callback on_event) {
  return {
    [=](event& e) { on_event(e); },
    [=](std::vector<event>& batch) {  // from a worker of a cluster
      for (auto& e : batch) on_event(e);
    },
    [=](done_atom, result& r, bool deadline_hit, const final_handler& handler) {
      (*handler)(std::move(r), deadline_hit);
      self->quit();
    },
  };
}

}  // namespace

caf::actor spawn_run_driver(caf::actor_system& sys, run_context_ptr ctx, node_ptr root, task root_task,
                            int64_t run_timeout_ms, caf::actor event_sink, result_handler done) {
  return sys.spawn(run_driver, std::move(ctx), std::move(root), std::move(root_task), run_timeout_ms,
                   std::move(event_sink), std::move(done));
}

caf::actor spawn_event_sink(caf::actor_system& sys, event_callback on_event) {
  return sys.spawn(event_sink, std::move(on_event));
}

}  // namespace cohort
