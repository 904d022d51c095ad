#pragma once
// Reading an endpoint's answer into a model_reply: the HTTP outcome (status, body,
// transport error) of a whole answer, or a streamed answer assembled event by event.
// Every error names the endpoint's URL. Runs on I/O threads: nothing here may throw
// out of guarded().
#include <optional>
#include <string>
#include <vector>

#include "messages/model_call.hpp"
#include "models/chat_completions.hpp"
#include "models/http/http_connection.hpp"
#include "models/http/sse_parser.hpp"

namespace cohort {

// The start of a body for an error message: one line, cut before byte 300 at a UTF-8
// character boundary.
std::string excerpt(const std::string& body);

// A streamed answer put together on the I/O thread as its events arrive.
struct stream_assembly {
  static constexpr size_t max_tool_calls = 128;  // in one answer: a server's flood is cut
  sse_parser parser;
  std::string text;
  std::optional<token_usage> usage;      // from the chunk that carried it (include_usage)
  std::vector<tool_call_piece> tool_calls;  // joined by index as they come
  std::string error;                     // an error event, or an unreadable one
  std::string error_kind;                // of that error
  bool finished = false;                 // a finish_reason or [DONE] arrived
  bool saw_event = false;
  size_t pieces_sent = 0;                // to the listener; if the call then fails, it hears so
  std::string raw;                       // the body until the first event: a server that
                                         // ignored "stream" answers with plain JSON

  // `send_delta` gets each non-empty piece of text.
  template <class F>
  void take(const std::string& data, F&& send_delta) {
    if (!saw_event) {
      saw_event = true;
      raw.clear();
      raw.shrink_to_fit();
    }
    if (data == "[DONE]") {
      finished = true;
      return;
    }
    auto chunk = read_chat_chunk(data);
    if (chunk.what != chat_chunk::form::data) {
      if (error.empty()) {
        bool unreadable = chunk.what == chat_chunk::form::unreadable;
        error = (unreadable ? "unreadable event in the stream: " : "error event in the stream: ") + excerpt(data);
        error_kind = chunk.error_kind;
      }
      return;
    }
    if (chunk.usage) usage = chunk.usage;
    finished = finished || chunk.finished;
    for (auto& piece : chunk.tool_calls)
      if (tool_calls.size() < max_tool_calls || piece.index == tool_calls.back().index)
        add_tool_call_piece(tool_calls, std::move(piece));
    if (chunk.piece.empty()) return;
    text += chunk.piece;
    send_delta(chunk.piece);
  }
};

// A whole answer (not streamed).
model_reply interpret(const std::string& url, const http_outcome& out, const model_request& req);
// A streamed answer, once its body has ended.
model_reply interpret_stream(const std::string& url, const http_outcome& out, stream_assembly& s,
                             const model_request& req);

// Responses are read on an I/O thread, where an exception would end the process: one
// that escapes becomes this call's malformed_response.
template <class F>
model_reply guarded(const std::string& url, F&& read) {
  try {
    return read();
  } catch (const std::exception& e) {
    model_reply r;
    r.error = {"malformed_response", "could not read the response from " + url + ": " + e.what()};
    return r;
  }
}

// Bytes of a streamed body into its assembly (null: the body ended, so a last event
// without its closing blank line counts); each text piece goes to the listener.
void feed_stream(stream_assembly& s, const model_request& req, const std::string* bytes);

}  // namespace cohort
