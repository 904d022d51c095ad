#pragma once
// How a leaf agent (llm or tool) takes part in its run's bus and barriers, as its
// agent_def::coordination says. Before it acts, it may meet the others at a sync point
// and take its messages (they become {{messages}}); after, it sends the messages its
// output names (outgoing_messages.hpp) and may meet the others there. Nothing blocks:
// every step is a request with a timeout, answered through the actor's mailbox.
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "messages/coordination.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/run_context.hpp"

namespace cohort {

using step_failed = std::function<void(result)>;

// One task's way to its sync point (whether the agent already arrived there), its
// receive in flight and the messages it took.
struct party_progress {
  std::string party;
  bool arrived = false;
  uint64_t receiving = 0;            // the ticket of a receive the bus has not answered yet
  bool ended = false;                // the task ended early: a late answer goes back to the bus
  bool quit_when_answered = false;   // the agent ended with a receive out: it quits on the answer
  std::vector<bus_message> taken;    // back to the bus if the task fails: its retry sees them
};
using progress_ptr = std::shared_ptr<party_progress>;

// The agent's name on the bus: its `as` rendered for this task, or the agent's name.
// Throws template_error.
std::string party_name(const run_context& ctx, const agent_def& def, const task& t);

// Joins the bus (for broadcasts), meets the others first if the barrier is "before",
// then takes `receive` messages (or what is there now). `go` gets them as
// [{"from", "content"}].
void before_acting(caf::event_based_actor* self, const run_context& ctx, const agent_def& def,
                   const progress_ptr& progress, int64_t timeout_ms, std::function<void(nlohmann::json)> go,
                   step_failed fail);

// Sends what `output` names (when the agent may send), then meets the others if the
// barrier is "after"; `done` once all of it went through.
void after_acting(caf::event_based_actor* self, const run_context& ctx, const agent_def& def,
                  const progress_ptr& progress, const nlohmann::json& output, int64_t timeout_ms,
                  std::function<void()> done, step_failed fail);

// An agent that ends its task without reaching its sync point (it failed, or was
// cancelled) leaves it: the others learn at once, with `reason` and its name, instead
// of waiting out their timeout. Nothing when it arrived or has no barrier. A receive
// still waiting is withdrawn, and the messages the task took go back to the front of its
// mailbox, so that the task's next attempt (or the next reader) sees them.
void leave_if_pending(const run_context& ctx, const agent_def& def, const progress_ptr& progress,
                      const std::string& reason);

// Ends the agent now or, while a receive it withdrew is still out, once the bus answered
// it. The bus may have answered just before the withdrawal came, its answer waiting
// behind the cancel (or timeout) in the agent's mailbox: quitting now would lose the
// messages in it; staying gives them back. The bus answers a withdrawn receive at once.
void quit_when_answered(caf::event_based_actor* self, const progress_ptr& progress);

}  // namespace cohort
