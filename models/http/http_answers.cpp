#include "models/http/http_answers.hpp"

#include <algorithm>

#include <caf/send.hpp>

#include "messages/atoms.hpp"
#include "models/token_estimate.hpp"

namespace cohort {

// The start of a body for an error message: one line, cut before byte 300 at a UTF-8
// character boundary (a message that is not valid UTF-8 cannot be printed as JSON).
std::string excerpt(const std::string& body) {
  size_t cut = std::min<size_t>(body.size(), 300);
  while (cut < body.size() && cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
  auto s = body.substr(0, cut);
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  // Invalid bytes (a Latin-1 error page) become U+FFFD, as the JSON library writes them.
  s = nlohmann::json::parse(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
          .get<std::string>();
  return cut < body.size() ? s + "..." : s;
}

namespace {

// Retry-After in seconds (the HTTP-date form is rare from model servers: ignored).
int64_t retry_after_ms(const std::string& value) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 6) return -1;
  return std::stoll(value) * 1000;
}

// The transport and the HTTP status, alike for both forms of answer: false (with the
// error in `r`) unless a 200 arrived.
bool answered(const std::string& url, const http_outcome& out, model_reply& r) {
  if (!out.error_kind.empty()) {
    r.error = {out.error_kind, out.error + " (" + url + ")"};
    return false;
  }
  if (out.status == 200) return true;
  auto status = "HTTP " + std::to_string(out.status) + " from " + url;
  if (out.status == 429) {
    r.error = {"rate_limited", status + (out.retry_after.empty() ? "" : " (Retry-After: " + out.retry_after + ")") +
                                   ": " + excerpt(out.body)};
    r.error.retry_after_ms = retry_after_ms(out.retry_after);
  } else {
    r.error = {out.status >= 500 ? "server_error" : "http_status", status + ": " + excerpt(out.body)};
  }
  return false;
}

// The server's usage, or an estimate marked as one.
void settle_usage(model_reply& r, const std::optional<token_usage>& usage, const model_request& req) {
  if (usage) {
    r.prompt_tokens = usage->prompt;
    r.completion_tokens = usage->completion;
    return;
  }
  r.prompt_tokens = estimate_prompt_tokens(req.messages);
  r.completion_tokens = estimate_tokens(r.tool_calls.is_null() ? r.text : r.text + r.tool_calls.dump());
  r.usage_estimated = true;
}

}  // namespace

model_reply interpret(const std::string& url, const http_outcome& out, const model_request& req) {
  model_reply r;
  if (!answered(url, out, r)) return r;
  auto answer = read_chat_answer(out.body);
  switch (answer.what) {
    case chat_answer::form::not_json:
      r.error = {"malformed_response", "malformed JSON in the response from " + url + ": " + excerpt(out.body)};
      return r;
    case chat_answer::form::no_content:
      r.error = {"malformed_response",
                 "response from " + url + " has no choices[0].message.content: " + excerpt(out.body)};
      return r;
    case chat_answer::form::tool_calls:
      r.tool_calls = tool_calls_json(answer.tool_calls);
      break;
    case chat_answer::form::text:
      break;
  }
  r.ok = true;
  r.text = std::move(answer.text);
  settle_usage(r, answer.usage, req);
  return r;
}


model_reply interpret_stream(const std::string& url, const http_outcome& out, stream_assembly& s,
                             const model_request& req) {
  model_reply r;
  if (!answered(url, out, r)) return r;
  if (!s.saw_event && !s.raw.empty()) {  // not a stream after all: one whole answer
    http_outcome whole = out;
    whole.body = std::move(s.raw);
    return interpret(url, whole, req);
  }
  if (!s.error.empty()) {
    r.error = {s.error_kind.empty() ? "malformed_response" : s.error_kind, s.error + " (" + url + ")"};
    return r;
  }
  if (!s.finished) {
    r.error = {"malformed_response", "the stream from " + url + " ended without a finish_reason or [DONE]"};
    return r;
  }
  r.ok = true;
  r.text = std::move(s.text);
  if (!s.tool_calls.empty()) r.tool_calls = tool_calls_json(s.tool_calls);
  settle_usage(r, s.usage, req);
  return r;
}


// Bytes of a streamed body into its assembly (null: the body ended, so a last event
// without its closing blank line counts); each text piece goes to the listener.
void feed_stream(stream_assembly& s, const model_request& req, const std::string* bytes) {
  auto on_event = [&](const std::string& data) {
    s.take(data, [&](const std::string& piece) {
      ++s.pieces_sent;
      if (req.on_delta) caf::anon_send(req.on_delta, stream_delta_atom::value, req.id, piece);
    });
  };
  try {
    if (!bytes) return s.parser.finish(on_event);
    if (!s.saw_event && s.raw.size() < 64 * 1024 * 1024) s.raw += *bytes;
    s.parser.feed(*bytes, on_event);
  } catch (const std::exception& e) {
    if (s.error.empty()) s.error = std::string("unreadable stream: ") + e.what();
  }
}

}  // namespace cohort
