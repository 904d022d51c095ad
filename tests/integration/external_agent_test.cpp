// The external agent against its run's desk, driven by the test (no node around it): a
// result handed in at the very moment the agent's timeout fires.
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "agents/spawn_agent.hpp"
#include "cohort/runtime.hpp"
#include "messages/event.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"
#include "run/external_desk.hpp"
#include "runtime/runtime_access.hpp"
#include "spec/scenario.hpp"
#include "tests/support/stop_at_end.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort {
namespace {

using json = nlohmann::json;
using hold_atom = caf::atom_constant<caf::atom("hold")>;
// The agent's own timeout message, sent by the test at the moment it chooses.
using agent_timeout_atom = caf::atom_constant<caf::atom("exttimeout")>;

// Keeps the runtime's only scheduler thread busy from its first message until `go` is
// set (at most 5 s): actors on that thread take no message meanwhile.
caf::behavior thread_holder(std::shared_ptr<std::promise<void>> holding, std::shared_future<void> go) {
  return {[=](hold_atom) {
    holding->set_value();
    go.wait_for(std::chrono::seconds(5));
  }};
}

// Sets its promise at the first `started` event.
caf::behavior start_watcher(std::shared_ptr<std::promise<void>> started) {
  auto seen = std::make_shared<bool>(false);
  return {[=](const event& e) {
    if (e.kind == event_kind::started && !std::exchange(*seen, true)) started->set_value();
  }};
}

// The program was told its result was accepted (the desk handed it to the waiting
// branch), but the branch's timeout was already in its mailbox: the branch ended
// timed_out and the result was lost. Now the result, handed in first, wins.
TEST(ExternalAgent, AResultHandedInAsTheTimeoutFiresIsTheAnswer) {
  auto options = testing::test_options();
  options.scheduler_threads = 1;  // one thread: the test holds it between two of the agent's messages
  Runtime rt(options);
  auto& sys = runtime_access::system(rt);
  auto spec = std::make_shared<scenario>(load_scenario(
      {{"agents", {{"ext", {{"type", "external"}, {"timeout_ms", 60000}}}}}, {"workflow", {{"agent", "ext"}}}}, "test",
      {}));
  auto started = std::make_shared<std::promise<void>>();
  auto holding = std::make_shared<std::promise<void>>();
  std::promise<void> go;
  struct release_at_end {
    std::promise<void>& go;
    ~release_at_end() {
      try {
        go.set_value();
      } catch (const std::future_error&) {
      }
    }
  } release{go};
  auto desk = std::make_shared<external_desk>();
  auto ctx = std::make_shared<run_context>();
  ctx->run_id = "run-1";
  ctx->spec = spec;
  ctx->input = std::make_shared<json>(json::object());
  ctx->events = sys.spawn(start_watcher, started);
  ctx->externals = desk;
  auto agent = spawn_leaf_agent(sys, ctx, spec->agents.at("ext"));
  auto holder = sys.spawn(thread_holder, holding, go.get_future().share());
  testing::stop_at_end end{{agent, holder, ctx->events}};

  caf::scoped_actor self{sys};
  task t;
  t.run_id = "run-1";
  t.path = "root/ext";
  t.bindings = json::object();
  auto answer = self->request(agent, std::chrono::seconds(10), t);
  // The watcher runs once the agent's task handler returned: its branch waits at the desk.
  ASSERT_EQ(started->get_future().wait_for(std::chrono::seconds(3)), std::future_status::ready);
  caf::anon_send(holder, hold_atom::value);
  ASSERT_EQ(holding->get_future().wait_for(std::chrono::seconds(3)), std::future_status::ready);

  caf::anon_send(agent, agent_timeout_atom::value);  // the timeout fires...
  ASSERT_EQ(desk->hand_in("ext", "in time"), external_desk::handed::to_branch);  // ...as the result comes
  go.set_value();
  answer.receive(
      [](const result& r) {
        EXPECT_STREQ(to_string(r.status), "succeeded") << r.error.message;
        EXPECT_EQ(r.output, "in time");
      },
      [&](const caf::error& e) { ADD_FAILURE() << "no answer: " << sys.render(e); });
}

}  // namespace
}  // namespace cohort
