#include "agents/agent_coordination.hpp"

#include <memory>
#include <utility>

#include <caf/all.hpp>

#include "agents/send_field.hpp"
#include "messages/coordination.hpp"
#include "run/run_events.hpp"

namespace cohort {
namespace {

// A request may take the wait it asks for plus this, before the agent gives up on the actor.
constexpr int64_t reply_margin_ms = 2000;

// A coordination error as the agent's result; kinds a retry policy can name.
result step_failure(const caf::error& err, const std::string& party, const char* step) {
  auto text = coordination_error_text(err);
  auto what = party + " (" + step + "): " + text;
  if (err == caf::sec::request_timeout) return failure(outcome::timed_out, "timeout", party + " (" + step + "): no answer in time");
  if (err.category() != caf::atom("coord")) return failure(outcome::failed, "coordination", what);
  switch (static_cast<coordination_errc>(err.code())) {
    case coordination_errc::timeout: return failure(outcome::timed_out, "timeout", what);
    case coordination_errc::broken: return failure(outcome::failed, "barrier_broken", what);
    case coordination_errc::extra_party: return failure(outcome::failed, "barrier_extra_party", what);
    case coordination_errc::mailbox_full: return failure(outcome::failed, "mailbox_full", what);
    case coordination_errc::stopped: return failure(outcome::cancelled, "cancelled", what);
    case coordination_errc::invalid_argument: return failure(outcome::failed, "invalid_input", what);
  }
  return failure(outcome::failed, "coordination", what);
}

std::chrono::milliseconds request_limit(int64_t wait_ms) { return std::chrono::milliseconds(wait_ms + reply_margin_ms); }

void meet(caf::event_based_actor* self, const run_context& ctx, const agent_def& def, const progress_ptr& progress,
          int64_t timeout_ms, std::function<void()> next, step_failed fail) {
  const auto& co = def.coordination;
  const auto& party = progress->party;
  progress->arrived = true;  // from here the barrier watches it, and its death breaks it
  auto wait = co.barrier_timeout_ms > 0 ? std::min<int64_t>(co.barrier_timeout_ms, timeout_ms) : timeout_ms;
  self->request(ctx.barrier, request_limit(wait), barrier_arrive{co.barrier, party, nullptr, wait})
    .then([next](const barrier_release&) { next(); },
          [fail, party](caf::error& err) { fail(step_failure(err, party, "barrier")); });
}

void receive(caf::event_based_actor* self, const run_context& ctx, const agent_def& def, const progress_ptr& progress,
             int64_t timeout_ms, std::function<void(nlohmann::json)> go, step_failed fail) {
  const auto& co = def.coordination;
  const auto& party = progress->party;
  auto wait = co.receive_timeout_ms > 0 ? std::min<int64_t>(co.receive_timeout_ms, timeout_ms) : timeout_ms;
  auto count = static_cast<uint32_t>(co.receive);  // 0: what is there now
  progress->receiving = next_bus_ticket();
  self->request(ctx.bus, request_limit(wait), bus_receive{party, count, std::max<int64_t>(wait, 1), false, progress->receiving})
    .then(
      [self, go, progress, bus = ctx.bus](std::vector<bus_message>& got) {
        progress->receiving = 0;
        if (progress->ended) {  // answered before the withdrawal came: nothing is lost
          if (!got.empty()) caf::anon_send(bus, bus_withdraw{progress->party, 0, std::move(got)});
          if (progress->quit_when_answered) self->quit();
          return;
        }
        auto messages = nlohmann::json::array();
        for (const auto& m : got) messages.push_back({{"from", m.from}, {"content", m.payload}});
        progress->taken = std::move(got);
        go(std::move(messages));
      },
      [self, fail, progress](caf::error& err) {
        progress->receiving = 0;
        if (progress->ended) {
          if (progress->quit_when_answered) self->quit();
          return;
        }
        fail(step_failure(err, progress->party, "receive"));
      });
}

}  // namespace

void leave_if_pending(const run_context& ctx, const agent_def& def, const progress_ptr& progress,
                      const std::string& reason) {
  if (!progress || progress->ended) return;
  progress->ended = true;
  // Sent from the agent's handler, after its receive: the bus sees them in that order.
  // `receiving` stays set until the bus answers (quit_when_answered).
  if (progress->receiving != 0 || !progress->taken.empty())
    caf::anon_send(ctx.bus, bus_withdraw{progress->party, progress->receiving, std::exchange(progress->taken, {})});
  if (progress->arrived || def.coordination.barrier.empty()) return;
  progress->arrived = true;  // once
  caf::anon_send(ctx.barrier, barrier_leave{def.coordination.barrier, progress->party, reason});
}

void quit_when_answered(caf::event_based_actor* self, const progress_ptr& progress) {
  if (progress && progress->ended && progress->receiving != 0) {
    progress->quit_when_answered = true;
    return;
  }
  self->quit();
}

std::string party_name(const run_context& ctx, const agent_def& def, const task& t) {
  if (def.coordination.as.empty()) return def.name;
  return render(def.coordination.as, make_scope(ctx, t));
}

void before_acting(caf::event_based_actor* self, const run_context& ctx, const agent_def& def,
                   const progress_ptr& progress, int64_t timeout_ms, std::function<void(nlohmann::json)> go,
                   step_failed fail) {
  const auto& party = progress->party;
  // Joined names are what a broadcast reaches; the reply only confirms it.
  self->request(ctx.bus, request_limit(0), bus_join_atom::value, party).then([](uint64_t) {}, [](caf::error&) {});
  const auto& co = def.coordination;
  auto take = [self, &ctx, &def, progress, timeout_ms, go, fail] { receive(self, ctx, def, progress, timeout_ms, go, fail); };
  if (!co.barrier.empty() && co.barrier_before) meet(self, ctx, def, progress, timeout_ms, take, fail);
  else take();
}

void after_acting(caf::event_based_actor* self, const run_context& ctx, const agent_def& def,
                  const progress_ptr& progress, const nlohmann::json& output, int64_t timeout_ms,
                  std::function<void()> done, step_failed fail) {
  const auto& co = def.coordination;
  const auto& party = progress->party;
  auto then_meet = [self, &ctx, &def, progress, timeout_ms, done, fail] {
    if (!def.coordination.barrier.empty() && !def.coordination.barrier_before)
      meet(self, ctx, def, progress, timeout_ms, done, fail);
    else
      done();
  };
  if (!co.send) return then_meet();
  std::string bad;
  auto sends = read_sends(output, bad);
  if (!bad.empty()) return fail(failure(outcome::failed, "invalid_output", party + " named messages badly: " + bad));
  // Every send is acknowledged (or refused: a full mailbox) before the agent goes on, so
  // a party it meets afterwards finds the messages already there.
  struct pending_sends {
    size_t left = 0;
    bool failed = false;
  };
  auto pending = std::make_shared<pending_sends>();
  auto acked = [pending, then_meet](const bus_ack&) {
    if (!pending->failed && --pending->left == 0) then_meet();
  };
  auto refused = [pending, fail, party](caf::error& err) {
    if (pending->failed) return;
    pending->failed = true;
    fail(step_failure(err, party, "send"));
  };
  for (auto& m : sends) {
    if (m.neighbours) return fail(failure(outcome::failed, "invalid_output", party + " sent to @neighbours outside a simulation"));
    pending->left += m.everyone ? 1 : m.to.size();
  }
  if (pending->left == 0) return then_meet();
  for (auto& m : sends) {
    if (m.everyone)
      self->request(ctx.bus, request_limit(0), bus_broadcast{party, m.content}).then(acked, refused);
    for (auto& to : m.to) self->request(ctx.bus, request_limit(0), bus_send{party, to, m.content}).then(acked, refused);
  }
}

}  // namespace cohort
