#pragma once
// The OpenAI chat-completions format on the wire: the request body cohort sends, a
// whole answer, and the events of a streamed one. Only reading and writing JSON here;
// what an answer means for a call (errors, usage estimates) is the HTTP client's.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort {

struct model_def;
struct model_request;

// The body of POST /chat/completions: the model's params, the call's params on top,
// then model, messages and stream (with usage asked for when streaming).
std::string chat_request_body(const model_def& model, const model_request& req);

// One tool call of an answer, or a piece of one in a streamed answer: a stream sends a
// call's id and name in its first delta and its arguments in pieces, all under one index.
struct tool_call_piece {
  int64_t index = 0;
  std::string id;
  std::string name;
  std::string arguments;  // JSON text (an object sent as JSON is written back as text)
};

// Joins a streamed piece into the calls so far (by index).
void add_tool_call_piece(std::vector<tool_call_piece>& calls, tool_call_piece piece);

// The calls as OpenAI's wire format lists them:
// [{"id", "type": "function", "function": {"name", "arguments"}}].
nlohmann::json tool_calls_json(const std::vector<tool_call_piece>& calls);

struct token_usage {
  int64_t prompt = 0;
  int64_t completion = 0;
};

// A whole (not streamed) answer.
struct chat_answer {
  enum class form { text, tool_calls, not_json, no_content };
  form what = form::no_content;
  std::string text;                     // form::text; form::tool_calls: the content, if any
  std::vector<tool_call_piece> tool_calls;  // form::tool_calls
  std::optional<token_usage> usage;     // only when the server sent integer counts
};

chat_answer read_chat_answer(std::string_view body);

// The data of one streamed event (other than "[DONE]").
struct chat_chunk {
  enum class form { data, unreadable, error };
  form what = form::data;
  // form::error: http_status for the request's own fault (too long, filtered,
  // invalid), rate_limited for a rate limit, server_error otherwise.
  std::string error_kind;
  std::optional<token_usage> usage;
  bool finished = false;                // a finish_reason came
  std::vector<tool_call_piece> tool_calls;  // pieces of calls in this delta
  std::string piece;                    // text in this delta
};

chat_chunk read_chat_chunk(std::string_view data);

}  // namespace cohort
