#pragma once
// The OpenAI chat-completions wire format as the node's router speaks it: a client's
// request read and checked, the answer and its streamed chunks written, and the HTTP
// status an upstream failure is told with.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "messages/model_call.hpp"

namespace cohort::node {

struct chat_call {
  std::string model;                                 // the alias asked for
  nlohmann::json messages;                           // as sent
  nlohmann::json params = nlohmann::json::object();  // the rest of the body, passed through
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
};

// Throws api_error (400) naming the JSON path at fault.
chat_call read_chat_call(const nlohmann::json& body);

// What every chunk of one answer repeats.
struct answer_ids {
  std::string id;       // "chatcmpl-..."
  int64_t created = 0;  // seconds since the epoch
  std::string model;    // the alias
};

// The whole answer: {"object": "chat.completion", "choices": [...], "usage": {...}}.
nlohmann::json completion_json(const answer_ids& ids, const model_reply& reply);
// A streamed piece of text; the first piece also says the role.
nlohmann::json text_chunk_json(const answer_ids& ids, const std::string& text, bool first);
// The last chunk: the answer's tool calls, if any, and its finish_reason.
nlohmann::json final_chunk_json(const answer_ids& ids, const model_reply& reply, bool first);
// The usage chunk a client asked for with stream_options.include_usage (no choices).
nlohmann::json usage_chunk_json(const answer_ids& ids, const model_reply& reply);

// An upstream failure (the model pool's error kind) as the router answers it.
unsigned status_of(const error_info& error);
// {"error": {"message", "type", "param", "code"}}: the type follows from the status.
nlohmann::json openai_error_json(unsigned status, const std::string& code, const std::string& message,
                                 const std::string& param = "");

}  // namespace cohort::node
