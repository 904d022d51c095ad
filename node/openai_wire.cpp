#include "node/openai_wire.hpp"

#include "node/api_error.hpp"

namespace cohort::node {
namespace {

api_error bad(const std::string& path, const std::string& message) {
  return api_error(400, "invalid_request", message, {{path, message}});
}

nlohmann::json usage_json(const model_reply& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", saturating_add(r.prompt_tokens, r.completion_tokens)}};
}

const char* finish_reason(const model_reply& r) {
  return r.tool_calls.is_array() && !r.tool_calls.empty() ? "tool_calls" : "stop";
}

nlohmann::json chunk(const answer_ids& ids, nlohmann::json choices) {
  return {{"id", ids.id},
          {"object", "chat.completion.chunk"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices", std::move(choices)}};
}

}  // namespace

chat_call read_chat_call(const nlohmann::json& body) {
  if (!body.is_object()) throw bad("$", "the body must be a JSON object");
  chat_call c;
  auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty())
    throw bad("$.model", "\"model\" must be the name of one of the node's models (GET /v1/models)");
  c.model = model->get<std::string>();
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    throw bad("$.messages", "\"messages\" must be a non-empty array");
  for (size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    auto at = "$.messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad(at, "a message must be an object");
    if (!m.contains("role") || !m["role"].is_string()) throw bad(at + ".role", "a message needs a \"role\" string");
  }
  c.messages = *messages;
  if (auto s = body.find("stream"); s != body.end() && !s->is_null()) {
    if (!s->is_boolean()) throw bad("$.stream", "\"stream\" must be true or false");
    c.stream = s->get<bool>();
  }
  if (auto o = body.find("stream_options"); o != body.end() && !o->is_null()) {
    if (!o->is_object()) throw bad("$.stream_options", "\"stream_options\" must be an object");
    auto usage = o->find("include_usage");
    if (usage != o->end() && !usage->is_boolean())
      throw bad("$.stream_options.include_usage", "\"include_usage\" must be true or false");
    c.include_usage = usage != o->end() && usage->get<bool>();
  }
  if (auto n = body.find("n"); n != body.end() && !n->is_null() && *n != 1)
    throw bad("$.n", "the router answers one choice a request (\"n\": 1)");
  for (const auto& [key, value] : body.items())
    if (key != "model" && key != "messages" && key != "stream" && key != "stream_options" && key != "n")
      c.params[key] = value;
  return c;
}

nlohmann::json completion_json(const answer_ids& ids, const model_reply& reply) {
  nlohmann::json message = {{"role", "assistant"}, {"content", nullptr}};
  if (!reply.text.empty() || reply.tool_calls.is_null()) message["content"] = reply.text;
  if (reply.tool_calls.is_array() && !reply.tool_calls.empty()) message["tool_calls"] = reply.tool_calls;
  return {{"id", ids.id},
          {"object", "chat.completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices", {{{"index", 0}, {"message", std::move(message)}, {"finish_reason", finish_reason(reply)}}}},
          {"usage", usage_json(reply)}};
}

nlohmann::json text_chunk_json(const answer_ids& ids, const std::string& text, bool first) {
  nlohmann::json delta = {{"content", text}};
  if (first) delta["role"] = "assistant";
  return chunk(ids, {{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}});
}

nlohmann::json final_chunk_json(const answer_ids& ids, const model_reply& reply, bool first) {
  nlohmann::json delta = nlohmann::json::object();
  if (first) delta["role"] = "assistant";
  if (reply.tool_calls.is_array() && !reply.tool_calls.empty()) {
    auto calls = reply.tool_calls;
    for (size_t i = 0; i < calls.size(); ++i) calls[i]["index"] = i;
    delta["tool_calls"] = std::move(calls);
  }
  return chunk(ids, {{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish_reason(reply)}}});
}

nlohmann::json usage_chunk_json(const answer_ids& ids, const model_reply& reply) {
  auto c = chunk(ids, nlohmann::json::array());
  c["usage"] = usage_json(reply);
  return c;
}

unsigned status_of(const error_info& error) {
  if (error.kind == "rate_limited") return 429;
  if (error.kind == "timeout") return 504;
  if (error.kind == "cancelled") return 503;
  return 502;  // the upstream failed or answered something the router cannot pass on
}

nlohmann::json openai_error_json(unsigned status, const std::string& code, const std::string& message,
                                 const std::string& param) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 429 ? "rate_limit_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? nlohmann::json() : nlohmann::json(param)},
            {"code", code}}}};
}

}  // namespace cohort::node
