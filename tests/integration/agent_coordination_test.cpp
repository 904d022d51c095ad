// Coordinating leaf agents against a bus played by the test (no run around them): what
// becomes of the messages the bus gives an agent in the instant that agent is cancelled.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "agents/spawn_agent.hpp"
#include "cohort/runtime.hpp"
#include "messages/cancel.hpp"
#include "messages/coordination.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"
#include "runtime/runtime_access.hpp"
#include "spec/scenario.hpp"
#include "tests/support/stop_at_end.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;

// What the played bus was told to take back.
struct withdrawal_log {
  std::mutex mutex;
  std::vector<bus_withdraw> withdrawals;

  std::vector<bus_withdraw> seen() {
    std::lock_guard<std::mutex> lock(mutex);
    return withdrawals;
  }
};

// A bus whose answer crosses the agent's cancel: it holds the agent's receive, has the
// agent cancelled, and answers the receive with a message only after the withdrawal came
// (the real bus can take a message for a receiver in the instant that receiver is told to
// stop; its answer then waits behind the cancel in the agent's mailbox).
caf::behavior crossing_bus(caf::event_based_actor* self, std::shared_ptr<withdrawal_log> log) {
  auto held = std::make_shared<caf::response_promise>();
  return {
      [](bus_join_atom, const std::string&) { return uint64_t{1}; },
      [=](const bus_receive&) -> caf::result<std::vector<bus_message>> {
        auto agent = caf::actor_cast<caf::actor>(self->current_sender());  // the promise takes the sender
        *held = self->make_response_promise();
        caf::anon_send(agent, cancel{"test says stop"});
        return *held;
      },
      [=](bus_withdraw& w) {
        {
          std::lock_guard<std::mutex> lock(log->mutex);
          log->withdrawals.push_back(w);
        }
        if (held->pending()) held->deliver(std::vector<bus_message>{bus_message{"peer", "x", 7, "hello"}});
      },
  };
}


// The agent quit on the cancel, and the bus's answer went to an actor that was gone:
// the message was lost. Now the agent stays until the bus answered and gives it back.
TEST(AgentCoordination, MessagesTheBusGaveAsTheAgentWasCancelledGoBack) {
  Runtime rt(testing::test_options());
  auto& sys = runtime_access::system(rt);
  auto coordination = json{{"receive", 1}};
  auto spec = std::make_shared<scenario>(load_scenario(
      {{"models", {{"sim", {{"provider", "sim"}}}}},
       {"agents", {{"tool", {{"type", "tool"}, {"tool", "echo"}, {"input", "hi"}, {"coordination", coordination}}},
                   {"llm", {{"model", "sim"}, {"prompt", "hi"}, {"coordination", coordination}}}}},
       {"workflow", {{"type", "pipeline"}, {"steps", {{{"agent", "tool"}}, {{"agent", "llm"}}}}}}},
      "test", {"echo"}));
  for (const char* name : {"tool", "llm"}) {
    SCOPED_TRACE(name);
    auto log = std::make_shared<withdrawal_log>();
    auto bus = sys.spawn(crossing_bus, log);
    auto ctx = std::make_shared<run_context>();
    ctx->run_id = "run-1";
    ctx->spec = spec;
    ctx->input = std::make_shared<json>(json::object());
    ctx->tools = std::make_shared<std::map<std::string, Tool>>(
        std::map<std::string, Tool>{{"echo", [](const ToolCall& c) { return c.input; }}});
    ctx->models = {{"sim", bus}};  // never asked: the agent is cancelled before it acts
    ctx->bus = bus;
    auto agent = spawn_leaf_agent(sys, ctx, spec->agents.at(name));
    testing::stop_at_end end{{bus, agent}};

    caf::scoped_actor self{sys};
    self->monitor(agent);
    task t;
    t.run_id = "run-1";
    t.path = std::string("root/") + name;
    t.bindings = json::object();
    self->request(agent, std::chrono::seconds(5), t)
        .receive([](const result& r) { EXPECT_STREQ(to_string(r.status), "cancelled") << r.error.message; },
                 [&](const caf::error& e) { ADD_FAILURE() << "no answer: " << sys.render(e); });

    ASSERT_TRUE(testing::wait_until([&] { return log->seen().size() >= 2; }, 3000))
        << "the message the bus gave was not given back (" << log->seen().size() << " withdrawals)";
    auto seen = log->seen();
    EXPECT_NE(seen[0].ticket, 0u);  // the receive, withdrawn on the cancel
    EXPECT_EQ(seen[1].ticket, 0u);
    ASSERT_EQ(seen[1].unsent.size(), 1u);
    EXPECT_EQ(seen[1].unsent[0].payload, "hello");
    EXPECT_EQ(seen[1].name, name);

    bool gone = false;  // and then it ends
    self->receive([&](const caf::down_msg&) { gone = true; }, caf::after(std::chrono::seconds(3)) >> [] {});
    EXPECT_TRUE(gone) << "the agent stayed after the bus answered";
  }
}

}  // namespace
}  // namespace cohort
