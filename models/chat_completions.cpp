// Answers are read with Boost.JSON rather than nlohmann: every model call parses one,
// and nlohmann's parser took 5.5 us for a 300-byte answer where Boost.JSON takes 0.8
// (a quarter of the instructions of a whole call through the pool, by callgrind).
// Boost.JSON is compiled into this file alone (its header-only form).
#include "models/chat_completions.hpp"

#include <algorithm>
#include <limits>

#include <boost/json/src.hpp>

#include "messages/input_limits.hpp"
#include "messages/model_call.hpp"
#include "spec/scenario.hpp"

namespace cohort {
namespace {

namespace json = boost::json;

// Parses `text` into an arena (a typical answer fits on the stack) and hands the
// document to `use`, or null when it is not JSON; nothing of it outlives the call.
template <class F>
void with_parsed(std::string_view text, F&& use) {
  unsigned char arena[4096];
  json::monotonic_resource memory(arena, sizeof arena);
  json::parse_options options;
  options.max_depth = current_input_limits().max_json_depth;  // Boost's default 32 could refuse a valid answer
  json::error_code ec;
  auto doc = json::parse(text, ec, &memory, options);
  use(ec ? nullptr : &doc);
}

const json::value* field(const json::value* v, std::string_view key) {
  if (!v || !v->is_object()) return nullptr;
  return v->get_object().if_contains(key);
}

const json::value* first_choice(const json::value& doc) {
  auto choices = field(&doc, "choices");
  if (!choices || !choices->is_array() || choices->get_array().empty()) return nullptr;
  return &choices->get_array()[0];
}

const json::string* string_at(const json::value* v, std::string_view key) {
  auto s = field(v, key);
  return s && s->is_string() ? &s->get_string() : nullptr;
}

std::optional<int64_t> integer(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64())
    return static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), std::numeric_limits<int64_t>::max()));
  return std::nullopt;
}

// Counts only when the completion count is an integer (the prompt count defaults to 0).
std::optional<token_usage> usage_of(const json::value& doc) {
  auto usage = field(&doc, "usage");
  auto completion = integer(field(usage, "completion_tokens"));
  if (!completion) return std::nullopt;
  return token_usage{integer(field(usage, "prompt_tokens")).value_or(0), *completion};
}

// The function names of the tool calls in a message or a delta (none: not a tool-call
// answer). A streamed call's name comes in its first delta only: an unnamed call is
// listed as "?" only when it is the first.
std::vector<std::string> tool_call_names(const json::value* message) {
  std::vector<std::string> names;
  auto calls = field(message, "tool_calls");
  if (!calls || !calls->is_array()) return names;
  for (const auto& call : calls->get_array()) {
    auto name = string_at(field(&call, "function"), "name");
    if (name && !name->empty()) names.emplace_back(name->data(), name->size());
    else if (names.empty()) names.emplace_back("?");
  }
  return names;
}

std::string error_kind(const json::value* error) {
  std::string what;
  for (const char* key : {"code", "type"})
    if (auto s = string_at(error, key)) what.append(s->data(), s->size()).append(" ");
  auto has = [&](const char* word) { return what.find(word) != std::string::npos; };
  if (has("rate_limit") || has("insufficient_quota")) return "rate_limited";
  if (has("invalid_request") || has("context_length") || has("content_filter") || has("content_policy"))
    return "http_status";
  return "server_error";
}

}  // namespace

std::string chat_request_body(const model_def& m, const model_request& req) {
  nlohmann::json body = m.params.is_object() ? m.params : nlohmann::json::object();
  if (req.params.is_object()) body.update(req.params);
  body.erase("messages");
  body["model"] = m.model;
  body["stream"] = m.stream;
  // Usage arrives in a last chunk only when asked for; params may say otherwise.
  if (m.stream && !body.contains("stream_options")) body["stream_options"] = {{"include_usage", true}};
  // Replace, not throw: text from a tool or an embedder may not be valid UTF-8.
  constexpr auto replace = nlohmann::json::error_handler_t::replace;
  // The messages are written after the rest rather than copied into `body` first.
  auto text = body.dump(-1, ' ', false, replace);
  text.pop_back();  // the closing brace; `body` is never empty (it has "model")
  text.append(",\"messages\":").append(req.messages.dump(-1, ' ', false, replace)).append("}");
  return text;
}

chat_answer read_chat_answer(std::string_view body) {
  chat_answer a;
  with_parsed(body, [&](const json::value* doc) {
    if (!doc) {
      a.what = chat_answer::form::not_json;
      return;
    }
    auto message = field(first_choice(*doc), "message");
    a.tool_calls = tool_call_names(message);
    if (!a.tool_calls.empty()) {
      a.what = chat_answer::form::tool_calls;
      return;
    }
    auto content = string_at(message, "content");
    if (!content) return;  // no_content
    a.what = chat_answer::form::text;
    a.text.assign(content->data(), content->size());
    a.usage = usage_of(*doc);
  });
  return a;
}

chat_chunk read_chat_chunk(std::string_view data) {
  chat_chunk c;
  with_parsed(data, [&](const json::value* doc) {
    if (!doc || !doc->is_object()) {
      c.what = chat_chunk::form::unreadable;
      return;
    }
    if (auto error = field(doc, "error")) {
      c.what = chat_chunk::form::error;
      c.error_kind = error_kind(error);
      return;
    }
    c.usage = usage_of(*doc);
    auto choice = first_choice(*doc);
    if (!choice || !choice->is_object()) return;
    if (auto reason = field(choice, "finish_reason"); reason && !reason->is_null()) c.finished = true;
    auto delta = field(choice, "delta");
    if (!delta || !delta->is_object()) return;
    c.tool_calls = tool_call_names(delta);
    if (auto content = string_at(delta, "content")) c.piece.assign(content->data(), content->size());
  });
  return c;
}

}  // namespace cohort
