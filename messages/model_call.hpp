#pragma once
// model_request / model_reply: what an llm agent asks of a model provider actor
// (the in-process `sim` model or an HTTP client for an OpenAI-compatible endpoint).
#include <atomic>
#include <cstdint>
#include <string>

#include <caf/actor.hpp>

#include "messages/json_inspect.hpp"
#include "messages/result.hpp"

namespace cohort {

// A new request id, unique in the process: a model pool serves llm agents and the
// node's router alike, and matches replies and cancels by it.
inline uint64_t next_model_request_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

struct model_request {
  uint64_t id = 0;           // unique per process; a cancel names it
  std::string path;          // the asking branch, for errors and logs
  nlohmann::json messages;   // OpenAI chat messages: [{"role","content"}...]
  nlohmann::json params;     // passed through into the request body (temperature, ...)
  int32_t attempt = 1;       // the asking branch's attempt: a retry is a new draw for the sim model
  std::string run_id;        // the asking run and agent: a model pool's affinity keys
  std::string agent;
  int32_t priority = 0;      // the asking branch's: beyond max_in_flight, higher goes first
  // A streaming model sends (stream_delta_atom, id, text) here for every piece of text
  // as it arrives, before the reply, and (stream_reset_atom, id) if the call then fails
  // after some of them; null: nobody wants them.
  caf::actor on_delta;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_request& x) {
  return f(caf::meta::type_name("cohort.model_request"), x.id, x.path, x.messages, x.params, x.attempt,
           x.run_id, x.agent, x.priority, x.on_delta);
}

struct model_reply {
  uint64_t id = 0;           // the request it answers (a model pool matches replies by it)
  bool ok = false;
  error_info error;
  std::string text;          // the answer's text ("" when it is only tool calls)
  // The tool calls of the answer as OpenAI writes them, [{"id", "type": "function",
  // "function": {"name", "arguments": "<JSON text>"}}]; null when there are none.
  nlohmann::json tool_calls;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  bool usage_estimated = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_reply& x) {
  return f(caf::meta::type_name("cohort.model_reply"), x.id, x.ok, x.error, x.text, x.tool_calls, x.prompt_tokens,
           x.completion_tokens, x.usage_estimated);
}

// The answer to a call its asker withdrew (cancel_req_atom). A provider sends it all the
// same: CAF 0.17 keeps an asker's response handler until an answer comes, so a long-lived
// asker (a router desk, a pooled agent) would keep one for every call it withdrew.
inline model_reply withdrawn_reply(uint64_t id) {
  model_reply r;
  r.id = id;
  r.error = {"cancelled", "the call was withdrawn"};
  return r;
}

}  // namespace cohort
