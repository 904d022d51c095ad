#include "messages/protocol.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/cancel.hpp"
#include "messages/cluster.hpp"
#include "messages/coordination.hpp"
#include "messages/event.hpp"
#include "messages/model_call.hpp"
#include "messages/result.hpp"
#include "messages/task.hpp"

namespace cohort {

const char* to_string(outcome o) {
  switch (o) {
    case outcome::succeeded: return "succeeded";
    case outcome::failed: return "failed";
    case outcome::timed_out: return "timed_out";
    case outcome::cancelled: return "cancelled";
  }
  return "unknown";
}

const char* to_string(event_kind k) {
  switch (k) {
    case event_kind::started: return "started";
    case event_kind::finished: return "finished";
    case event_kind::token: return "token";
    case event_kind::note: return "note";
    case event_kind::token_reset: return "token_reset";
  }
  return "unknown";
}

void run_stats::add(const run_stats& o) {
  agent_us = saturating_add(agent_us, o.agent_us);
  model_calls = saturating_add(model_calls, o.model_calls);
  prompt_tokens = saturating_add(prompt_tokens, o.prompt_tokens);
  completion_tokens = saturating_add(completion_tokens, o.completion_tokens);
  cost += o.cost;
  usage_estimated = saturating_add(usage_estimated, o.usage_estimated);
  succeeded = saturating_add(succeeded, o.succeeded);
  failed = saturating_add(failed, o.failed);
  timed_out = saturating_add(timed_out, o.timed_out);
  cancelled = saturating_add(cancelled, o.cancelled);
  retries = saturating_add(retries, o.retries);
  agents_started = saturating_add(agents_started, o.agents_started);
}

void run_stats::count(outcome o, int64_t n) {
  switch (o) {
    case outcome::succeeded: succeeded += n; break;
    case outcome::failed: failed += n; break;
    case outcome::timed_out: timed_out += n; break;
    case outcome::cancelled: cancelled += n; break;
  }
}

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_type<nlohmann::json>("json");
  cfg.add_message_type<task>("cohort.task");
  cfg.add_message_type<cancel>("cohort.cancel");
  cfg.add_message_type<error_info>("cohort.error_info");
  cfg.add_message_type<run_stats>("cohort.run_stats");
  cfg.add_message_type<result>("cohort.result");
  cfg.add_message_type<event>("cohort.event");
  cfg.add_message_type<model_request>("cohort.model_request");
  cfg.add_message_type<model_reply>("cohort.model_reply");
  // Coordination: bus, barrier, blackboard (the *_fn messages are local only).
  cfg.add_message_type<bus_message>("cohort.bus_message");  // also std::vector<bus_message>
  cfg.add_message_type<bus_send>("cohort.bus_send");
  cfg.add_message_type<bus_broadcast>("cohort.bus_broadcast");
  cfg.add_message_type<bus_ack>("cohort.bus_ack");
  cfg.add_message_type<bus_receive>("cohort.bus_receive");
  cfg.add_message_type<bus_withdraw>("cohort.bus_withdraw");
  cfg.add_message_type<barrier_define>("cohort.barrier_define");
  cfg.add_message_type<barrier_arrive>("cohort.barrier_arrive");
  cfg.add_message_type<barrier_release>("cohort.barrier_release");
  cfg.add_message_type<barrier_leave>("cohort.barrier_leave");
  cfg.add_message_type<barrier_withdraw>("cohort.barrier_withdraw");
  cfg.add_message_type<board_entry>("cohort.board_entry");
  cfg.add_message_type<board_op>("cohort.board_op");
  cfg.add_message_type<board_cas>("cohort.board_cas");
  cfg.add_message_type<board_cas_result>("cohort.board_cas_result");
  cfg.add_message_type<board_condition>("cohort.board_condition");
  cfg.add_message_type<board_wait>("cohort.board_wait");
  // The cluster: head and workers (messages/cluster.hpp).
  cfg.add_message_type<worker_info>("cohort.worker_info");
  cfg.add_message_type<worker_welcome>("cohort.worker_welcome");
  cfg.add_message_type<branch_order>("cohort.branch_order");
  cfg.add_message_type<branch_answer>("cohort.branch_answer");
  cfg.add_message_type<branch_cancel>("cohort.branch_cancel");
  cfg.add_message_type<run_spec>("cohort.run_spec");
  // Batches: what one actor sends a peer while working through its mailbox, at once.
  cfg.add_message_type<std::vector<branch_order>>("cohort.branch_orders");
  cfg.add_message_type<std::vector<branch_answer>>("cohort.branch_answers");
  cfg.add_message_type<std::vector<event>>("cohort.events");
  cfg.add_error_category(caf::atom("coord"), [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string text = "coord.";
    text += to_string(static_cast<coordination_errc>(code));
    if (ctx.match_elements<std::string>()) text += ": " + ctx.get_as<std::string>(0);
    return text;
  });
}

}  // namespace cohort
