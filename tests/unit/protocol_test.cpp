// Every protocol message survives CAF serialization as a whole message (the way the
// middleman sends it), using the names registered by register_messages.
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "messages/cancel.hpp"
#include "messages/event.hpp"
#include "messages/model_call.hpp"
#include "messages/protocol.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"

namespace {

struct protocol_fixture : testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  protocol_fixture() {
    cohort::register_messages(cfg);
    cfg.set("scheduler.max-threads", 1);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  template <class T>
  T round_trip(T x) {
    auto msg = caf::make_message(std::move(x));
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    EXPECT_FALSE(sink(msg)) << "serialize";
    caf::message back;
    caf::binary_deserializer source{*sys, buf};
    EXPECT_FALSE(source(back)) << "deserialize";
    EXPECT_TRUE(back.match_elements<T>()) << "type lost in transit";
    return back.get_as<T>(0);
  }
};

}  // namespace

TEST_F(protocol_fixture, Task) {
  cohort::task t;
  t.run_id = "r-1";
  t.path = "workflow/research/researcher[2]";
  t.bindings = {{"item", "Rust"}, {"index", 1}};
  t.deadline_ms = 1234567890123;
  t.attempt = 3;
  auto back = round_trip(t);
  EXPECT_EQ(back.run_id, t.run_id);
  EXPECT_EQ(back.path, t.path);
  EXPECT_EQ(back.bindings, t.bindings);
  EXPECT_EQ(back.deadline_ms, t.deadline_ms);
  EXPECT_EQ(back.attempt, 3);
}

// Inherited names are shared in-process; sent to another node they travel flattened,
// the task's own names over its ancestors'.
TEST_F(protocol_fixture, TaskWithInheritedBindingsTravelsFlattened) {
  cohort::task t;
  t.run_id = "r-2";
  auto outer = cohort::push_bindings({{"results", {1, 2, 3}}, {"item", "outer"}}, nullptr);
  t.inherited = cohort::push_bindings({{"acc", 7}}, outer);
  t.bindings = {{"item", "inner"}, {"index", 0}};
  auto back = round_trip(t);
  EXPECT_EQ(back.inherited, nullptr);
  EXPECT_EQ(back.bindings, nlohmann::json({{"results", {1, 2, 3}}, {"item", "inner"}, {"acc", 7}, {"index", 0}}));
  EXPECT_EQ(t.bindings, nlohmann::json({{"item", "inner"}, {"index", 0}})) << "sending must not change the task";
}

TEST_F(protocol_fixture, ResultWithErrorAndStats) {
  cohort::result r;
  r.status = cohort::outcome::timed_out;
  r.error = {"timeout", "no result within 50 ms"};
  r.output = nlohmann::json::array({"partial", nullptr});
  r.stats.agent_us = 42;
  r.stats.model_calls = 7;
  r.stats.completion_tokens = 99;
  r.stats.cancelled = 2;
  auto back = round_trip(r);
  EXPECT_EQ(back.status, cohort::outcome::timed_out);
  EXPECT_EQ(back.error.kind, "timeout");
  EXPECT_EQ(back.error.message, r.error.message);
  EXPECT_EQ(back.output, r.output);
  EXPECT_EQ(back.stats.agent_us, 42);
  EXPECT_EQ(back.stats.model_calls, 7);
  EXPECT_EQ(back.stats.completion_tokens, 99);
  EXPECT_EQ(back.stats.cancelled, 2);
}

TEST_F(protocol_fixture, CancelEventAndModelCall) {
  EXPECT_EQ(round_trip(cohort::cancel{"user pressed Ctrl-C"}).reason, "user pressed Ctrl-C");

  cohort::event e;
  e.run_id = "r";
  e.path = "p";
  e.kind = cohort::event_kind::finished;
  e.status = cohort::outcome::failed;
  e.agent = "analyst";
  e.duration_us = 77;
  auto eb = round_trip(e);
  EXPECT_EQ(eb.kind, cohort::event_kind::finished);
  EXPECT_EQ(eb.status, cohort::outcome::failed);
  EXPECT_EQ(eb.agent, "analyst");
  EXPECT_EQ(eb.duration_us, 77);

  cohort::model_request req;
  req.id = 9;
  req.messages = {{{"role", "user"}, {"content", "hi"}}};
  req.params = {{"temperature", 0.2}};
  auto rb = round_trip(req);
  EXPECT_EQ(rb.id, 9u);
  EXPECT_EQ(rb.messages, req.messages);
  EXPECT_EQ(rb.params, req.params);

  cohort::model_reply rep;
  rep.ok = true;
  rep.text = "hello";
  rep.prompt_tokens = 3;
  rep.usage_estimated = true;
  auto pb = round_trip(rep);
  EXPECT_TRUE(pb.ok);
  EXPECT_EQ(pb.text, "hello");
  EXPECT_EQ(pb.prompt_tokens, 3);
  EXPECT_TRUE(pb.usage_estimated);
}
