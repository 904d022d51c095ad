// Answers are read with Boost.JSON rather than nlohmann: every model call parses one,
// and nlohmann's parser took 5.5 us for a 300-byte answer where Boost.JSON takes 0.8
// (a quarter of the instructions of a whole call through the pool, by callgrind).
// Boost.JSON is compiled into this file alone (its header-only form).
#include "models/chat_completions.hpp"

#include <algorithm>
#include <limits>
#include <map>

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

std::string text_of(const json::string& s) { return std::string(s.data(), s.size()); }

// The tool calls in a message or a delta (none: not a tool-call answer). Arguments are
// JSON text; a server that sends them as an object gets them written back as text.
std::vector<tool_call_piece> tool_calls_of(const json::value* message) {
  std::vector<tool_call_piece> calls;
  auto list = field(message, "tool_calls");
  if (!list || !list->is_array()) return calls;
  for (const auto& call : list->get_array()) {
    tool_call_piece c;
    c.index = integer(field(&call, "index")).value_or(static_cast<int64_t>(calls.size()));
    if (auto id = string_at(&call, "id")) c.id = text_of(*id);
    auto function = field(&call, "function");
    if (auto name = string_at(function, "name")) c.name = text_of(*name);
    if (auto args = field(function, "arguments")) {
      if (args->is_string()) c.arguments = text_of(args->get_string());
      else if (!args->is_null()) c.arguments = json::serialize(*args);
    }
    calls.push_back(std::move(c));
  }
  return calls;
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
  // The fields are written where they are, not copied into one document first: the
  // params hold the tools and their schemas, and go with every call. The request's
  // params override the model's; keys in order, as a JSON object would write them.
  std::map<std::string, const nlohmann::json*> fields;
  for (const auto* params : {&m.params, &req.params})
    if (params->is_object())
      for (auto it = params->begin(); it != params->end(); ++it) fields[it.key()] = &*it;
  fields.erase("messages");
  const nlohmann::json model = m.model, stream = m.stream, usage = {{"include_usage", true}};
  fields["model"] = &model;
  fields["stream"] = &stream;
  // Usage arrives in a last chunk only when asked for; params may say otherwise.
  if (m.stream && !fields.count("stream_options")) fields["stream_options"] = &usage;
  // Replace, not throw: text from a tool or an embedder may not be valid UTF-8.
  constexpr auto replace = nlohmann::json::error_handler_t::replace;
  std::string text = "{";
  for (const auto& [key, value] : fields)
    text.append(nlohmann::json(key).dump(-1, ' ', false, replace))
        .append(":")
        .append(value->dump(-1, ' ', false, replace))
        .append(",");
  text.append("\"messages\":").append(req.messages.dump(-1, ' ', false, replace)).append("}");
  return text;
}

void add_tool_call_piece(std::vector<tool_call_piece>& calls, tool_call_piece piece) {
  auto same = [&](const tool_call_piece& c) { return c.index == piece.index; };
  auto at = std::find_if(calls.begin(), calls.end(), same);
  if (at == calls.end()) {
    calls.push_back(std::move(piece));
    return;
  }
  if (!piece.id.empty()) at->id = std::move(piece.id);
  // OpenAI names a call in its first delta only; a server that repeats it is not appended.
  if (!piece.name.empty() && piece.name != at->name) at->name += piece.name;
  at->arguments += piece.arguments;
}

nlohmann::json tool_calls_json(const std::vector<tool_call_piece>& calls) {
  auto list = nlohmann::json::array();
  for (const auto& c : calls)
    list.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return list;
}

chat_answer read_chat_answer(std::string_view body) {
  chat_answer a;
  with_parsed(body, [&](const json::value* doc) {
    if (!doc) {
      a.what = chat_answer::form::not_json;
      return;
    }
    auto message = field(first_choice(*doc), "message");
    a.usage = usage_of(*doc);
    a.tool_calls = tool_calls_of(message);
    auto content = string_at(message, "content");
    if (!a.tool_calls.empty()) {
      a.what = chat_answer::form::tool_calls;
      if (content) a.text = text_of(*content);
      return;
    }
    if (!content) return;  // no_content
    a.what = chat_answer::form::text;
    a.text.assign(content->data(), content->size());
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
    c.tool_calls = tool_calls_of(delta);
    if (auto content = string_at(delta, "content")) c.piece.assign(content->data(), content->size());
  });
  return c;
}

}  // namespace cohort
