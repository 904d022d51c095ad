#include "mock_llm/answers.hpp"

#include <functional>

#include <boost/beast/http/field.hpp>

namespace cohort::mock_llm {

std::string dump_for_client(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_doc(const std::string& message, const std::string& type, const json& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

namespace {

// The one tool call of a --tool-calls answer; its arguments carry the simulated text.
json tool_call_doc(const chat_job& job) {
  return {{"id", "call_" + job.id},
          {"type", "function"},
          {"function", {{"name", job.tool}, {"arguments", dump_for_client(json{{"text", job.answer.text}})}}}};
}

// The answer's tool calls: the --tool-calls one, or those a rule scripted; null: none.
json tool_calls_of(const chat_job& job) {
  if (!job.tool.empty()) return json::array({tool_call_doc(job)});
  return job.answer.tool_calls;
}

// Tokens of every choice: OpenAI counts the prompt once and the completions together.
json usage_doc(const chat_job& job) {
  auto completion = job.answer.completion_tokens;
  for (const auto& a : job.more) completion += a.completion_tokens;
  return {{"prompt_tokens", job.answer.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", job.answer.prompt_tokens + completion}};
}

const sim_responder::answer& answer_at(const chat_job& job, size_t k) { return k == 0 ? job.answer : job.more[k - 1]; }

json choice_doc(const chat_job& job, size_t k) {
  const auto& a = answer_at(job, k);
  json message{{"role", "assistant"}, {"content", a.text}};
  auto calls = k == 0 ? tool_calls_of(job) : a.tool_calls;
  if (!calls.is_null()) {
    message["content"] = nullptr;
    message["tool_calls"] = std::move(calls);
  }
  const char* finish = message.contains("tool_calls") ? "tool_calls" : "stop";
  return {{"index", k}, {"message", std::move(message)}, {"finish_reason", finish}};
}

}  // namespace

json completion_doc(const chat_job& job) {
  auto choices = json::array();
  for (size_t k = 0; k <= job.more.size(); ++k) choices.push_back(choice_doc(job, k));
  json doc{{"id", job.id},
           {"object", "chat.completion"},
           {"created", job.created},
           {"model", job.model},
           {"choices", std::move(choices)}};
  if (job.usage) doc["usage"] = usage_doc(job);
  return doc;
}

namespace {

json chunk_doc(const chat_job& job, json delta, json finish_reason, size_t index = 0) {
  return {{"id", job.id},
          {"object", "chat.completion.chunk"},
          {"created", job.created},
          {"model", job.model},
          {"choices", json::array({{{"index", index}, {"delta", std::move(delta)}, {"finish_reason", finish_reason}}})}};
}

std::string sse_event(const json& doc) { return "data: " + dump_for_client(doc) + "\n\n"; }

// Each piece is a word with the whitespace after it (leading whitespace is its own
// piece), so the pieces concatenate back to exactly `text`.
std::vector<std::string> split_words(const std::string& text) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
  std::vector<std::string> pieces;
  std::size_t i = 0;
  while (i < text.size()) {
    auto j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    while (j < text.size() && is_space(text[j])) ++j;
    pieces.push_back(text.substr(i, j - i));
    i = j;
  }
  return pieces;
}

using add_event = std::function<void(std::string, std::chrono::microseconds)>;

// The role, then each call as OpenAI streams it: id and name with the first half of
// the arguments, the rest in a second delta under the same index.
void stream_calls(const chat_job& job, size_t k, const json& calls, std::chrono::microseconds total, const add_event& add) {
  add(sse_event(chunk_doc(job, {{"role", "assistant"}, {"content", nullptr}}, nullptr, k)), {});
  for (size_t i = 0; i < calls.size(); ++i) {
    auto args = calls[i]["function"]["arguments"].get<std::string>();
    auto half = args.size() / 2;
    auto first = calls[i];
    first["index"] = i;
    first["function"]["arguments"] = args.substr(0, half);
    json rest{{"index", i}, {"function", {{"arguments", args.substr(half)}}}};
    add(sse_event(chunk_doc(job, {{"tool_calls", json::array({first})}}, nullptr, k)), total);
    add(sse_event(chunk_doc(job, {{"tool_calls", json::array({rest})}}, nullptr, k)), total);
  }
  add(sse_event(chunk_doc(job, json::object(), "tool_calls", k)), total);
}

// The role at once, then the words spread evenly over the latency.
void stream_text(const chat_job& job, size_t k, const std::string& text, std::chrono::microseconds total,
                 const add_event& add) {
  add(sse_event(chunk_doc(job, {{"role", "assistant"}, {"content", ""}}, nullptr, k)), {});
  auto words = split_words(text);
  for (std::size_t w = 0; w < words.size(); ++w)
    add(sse_event(chunk_doc(job, {{"content", words[w]}}, nullptr, k)),
        total * static_cast<long>(w + 1) / static_cast<long>(words.size()));
  add(sse_event(chunk_doc(job, json::object(), "stop", k)), total);
}

}  // namespace

sse_event_plan plan_stream(const chat_job& job) {
  sse_event_plan plan;
  add_event add = [&plan](std::string event, std::chrono::microseconds at) {
    plan.events.push_back(std::move(event));
    plan.due.push_back(at);
  };
  std::chrono::microseconds total = job.latency;
  for (size_t k = 0; k <= job.more.size(); ++k) {
    auto calls = k == 0 ? tool_calls_of(job) : job.more[k - 1].tool_calls;
    if (!calls.is_null()) stream_calls(job, k, calls, total, add);
    else stream_text(job, k, answer_at(job, k).text, total, add);
  }
  // As OpenAI does: usage only when asked for, in a last chunk of its own.
  std::string last;
  if (job.usage && job.stream_usage) {
    auto usage = chunk_doc(job, json::object(), nullptr);
    usage["choices"] = json::array();
    usage["usage"] = usage_doc(job);
    last = sse_event(usage);
  }
  add(last + "data: [DONE]\n\n", total);
  return plan;
}

string_response make_response(http::status status, std::string body, unsigned version, bool keep_alive,
                              const char* content_type) {
  string_response res{status, version};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

string_response json_response(http::status status, const json& doc, unsigned version, bool keep_alive) {
  return make_response(status, dump_for_client(doc), version, keep_alive);
}

string_response job_answer(const chat_job& job, unsigned version, bool keep_alive, int retry_after_s) {
  switch (job.injected) {
    case fault::rate_limit: {
      auto res = json_response(
          http::status::too_many_requests,
          error_doc("Rate limit reached for requests (injected by cohort mock-llm)", "requests", "rate_limit_exceeded"),
          version, keep_alive);
      res.set(http::field::retry_after, std::to_string(retry_after_s));
      return res;
    }
    case fault::server_error:
      return json_response(http::status::internal_server_error,
                           error_doc("The server had an error while processing your request "
                                     "(injected by cohort mock-llm)",
                                     "server_error"),
                           version, keep_alive);
    case fault::malformed:
      return make_response(http::status::ok, R"({"choices": [ {"message": )", version, keep_alive);
    default:
      return json_response(http::status::ok, completion_doc(job), version, keep_alive);
  }
}

string_response request_timeout_answer(int header_timeout_ms) {
  return json_response(http::status::request_timeout,
                       error_doc("the request did not arrive within " + std::to_string(header_timeout_ms) + " ms",
                                 "invalid_request_error", "request_timeout"),
                       11, false);
}

string_response bad_request_answer(bool too_large, const std::string& why) {
  return json_response(too_large ? http::status::payload_too_large : http::status::bad_request,
                       error_doc("malformed HTTP request: " + why, "invalid_request_error"), 11, false);
}

}  // namespace cohort::mock_llm
