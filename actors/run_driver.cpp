#include "actors/run_driver.hpp"

#include <caf/all.hpp>

#include "actors/agent_support.hpp"
#include "messages/atoms.hpp"
#include "messages/cancel.hpp"
#include "messages/event.hpp"

namespace cohort {
using final_handler = std::shared_ptr<result_handler>;
}
// A callback inside a local message; it never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::final_handler)

namespace cohort {
namespace {

using done_atom = caf::atom_constant<caf::atom("rundone")>;
struct driver_state {
  const char* name = "run_driver";
  bool deadline_hit = false;
  bool finished = false;
};

caf::behavior run_driver(caf::stateful_actor<driver_state>* self, caf::actor root, task t,
                         int64_t run_timeout_ms, caf::actor sink, result_handler done) {
  auto handler = std::make_shared<result_handler>(std::move(done));
  auto report = [=](result r) {
    if (self->state.finished) return;
    self->state.finished = true;
    if (sink) self->send(sink, done_atom::value, std::move(r), self->state.deadline_hit, handler);
    else (*handler)(std::move(r), self->state.deadline_hit);
    self->quit();
  };
  // The root answers a cancel with what it has; the margin covers that answer.
  auto grace = std::chrono::milliseconds(run_timeout_ms + 5000);
  self->request(root, grace, std::move(t))
    .then([=](result& r) { report(std::move(r)); },
          [=](caf::error& err) {
            self->send(root, cancel{"run driver gave up"});
            report(failure(self->state.deadline_hit ? outcome::timed_out : outcome::failed,
                           self->state.deadline_hit ? "timeout" : "crashed",
                           "the workflow did not answer: " + self->system().render(err)));
          });
  self->delayed_send(self, std::chrono::milliseconds(run_timeout_ms), deadline_atom::value);
  // A root that dies without answering (an exception in a pattern) ends the run now:
  // the pending request alone would wait for its timeout.
  self->monitor(root);
  self->set_down_handler([=](caf::down_msg& dm) {
    report(failure(outcome::failed, "crashed",
                   t.path + ": the workflow ended without answering (" + self->system().render(dm.reason) + ")"));
  });
  return {
    [=](deadline_atom) {
      if (self->state.finished) return;
      self->state.deadline_hit = true;
      // High priority: the root's mailbox may hold thousands of results ahead of it.
      self->send<caf::message_priority::high>(root, cancel{"run timed out after " + std::to_string(run_timeout_ms) + " ms"});
    },
    [=](const cancel& c) { self->send(root, c); },
  };
}

caf::behavior event_sink(caf::event_based_actor* self, event_callback on_event) {
  return {
    [=](const event& e) { on_event(e); },
    [=](done_atom, result& r, bool deadline_hit, const final_handler& handler) {
      (*handler)(std::move(r), deadline_hit);
      self->quit();
    },
  };
}

}  // namespace

caf::actor spawn_run_driver(caf::actor_system& sys, caf::actor root, task root_task,
                            int64_t run_timeout_ms, caf::actor event_sink, result_handler done) {
  return sys.spawn(run_driver, std::move(root), std::move(root_task), run_timeout_ms,
                   std::move(event_sink), std::move(done));
}

caf::actor spawn_event_sink(caf::actor_system& sys, event_callback on_event) {
  return sys.spawn(event_sink, std::move(on_event));
}

}  // namespace cohort
