#include "mock_llm/routes.hpp"

#include <ctime>
#include <stdexcept>
#include <string_view>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "messages/input_limits.hpp"
#include "mock_llm/schema_sample.hpp"

namespace cohort::mock_llm {
namespace {

// ---------------------------------------------------------------------------
// Reading a chat completion request

struct bad_request : std::runtime_error {
  using std::runtime_error::runtime_error;
};

json parse_body(const std::string& body) {
  json doc;
  try {
    doc = parse_untrusted_json(body, "the request body");  // depth-limited: clients are untrusted
  } catch (const input_error& e) {
    throw bad_request(e.what());
  }
  if (!doc.is_object()) throw bad_request("the request body must be a JSON object");
  return doc;
}

void check_messages(const json& doc) {
  auto it = doc.find("messages");
  if (it == doc.end()) throw bad_request("'messages' is required (an array of message objects)");
  if (!it->is_array()) throw bad_request("'messages' must be an array of message objects");
  if (it->empty()) throw bad_request("'messages' must not be empty");
  for (std::size_t i = 0; i < it->size(); ++i)
    if (!(*it)[i].is_object()) throw bad_request("'messages[" + std::to_string(i) + "]' must be an object");
}

// The header wins over the body field; neither means a draw at fault_rate.
fault choose_fault(const string_request& req, const json& doc, server_state& state) {
  std::string forced, where;
  if (auto h = req.find("X-Mock-Fault"); h != req.end()) {
    forced = std::string(h->value());
    where = "X-Mock-Fault header";
  } else if (auto f = doc.find("mock_fault"); f != doc.end()) {
    if (!f->is_string()) throw bad_request("'mock_fault' must be a string");
    forced = f->get<std::string>();
    where = "'mock_fault' field";
  } else {
    return state.draw_fault();
  }
  auto f = parse_fault(forced);
  if (!f) throw bad_request("unknown mock fault \"" + forced + "\" in the " + where + " (expected " +
                            known_faults_text() + ")");
  return *f;
}

// The first tools[].function.name of the request, or "mock_tool".
std::string first_tool_name(const json& doc) {
  auto tools = doc.find("tools");
  if (tools != doc.end() && tools->is_array())
    for (const auto& t : *tools)
      if (t.is_object() && t.contains("function") && t["function"].is_object())
        if (auto name = t["function"].find("name"); name != t["function"].end() && name->is_string())
          return name->get<std::string>();
  return "mock_tool";
}

bool include_usage(const json& doc) {
  auto options = doc.find("stream_options");
  return options != doc.end() && options->is_object() && options->value("include_usage", false) == true;
}

// "n": how many choices (each a draw of its own), 1 to 8.
int choice_count(const json& doc) {
  auto n = doc.find("n");
  if (n == doc.end() || n->is_null()) return 1;
  if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > 8)
    throw bad_request("'n' must be an integer from 1 to 8 (this mock's limit)");
  return n->get<int>();
}

// response_format json_object or json_schema: an answer that is not JSON already (a rule
// may script one) becomes JSON of that shape, its text in the strings.
void shape_answers(const json& doc, chat_job& job) {
  auto format = doc.find("response_format");
  if (format == doc.end() || !format->is_object()) return;
  auto type = format->value("type", "text");
  if (type == "text") return;
  if (type != "json_object" && type != "json_schema")
    throw bad_request("'response_format.type' must be text, json_object or json_schema");
  json schema = json{{"type", "object"}, {"properties", {{"answer", {{"type", "string"}}}}}};
  if (type == "json_schema") {
    const auto& spec = format->value("json_schema", json());
    if (!spec.is_object() || !spec.contains("schema"))
      throw bad_request("'response_format.json_schema' must be an object with a 'schema'");
    schema = spec["schema"];
  }
  auto shape = [&](sim_responder::answer& a) {
    if (!a.tool_calls.is_null() || !json::parse(a.text, nullptr, false).is_discarded()) return;
    a.text = sample_of(schema, a.text).dump();
  };
  shape(job.answer);
  for (auto& a : job.more) shape(a);
}

chat_job read_chat_request(const string_request& req, server_state& state) {
  auto doc = parse_body(req.body());
  state.keep_last_request(req.body());
  check_messages(doc);
  chat_job job;
  auto stream = doc.find("stream");
  if (stream != doc.end() && !stream->is_null()) {
    if (!stream->is_boolean()) throw bad_request("'stream' must be a boolean");
    job.stream = stream->get<bool>();
  }
  auto model = doc.find("model");
  if (model != doc.end() && !model->is_null() && !model->is_string()) throw bad_request("'model' must be a string");
  job.model = model != doc.end() && model->is_string() ? model->get<std::string>() : state.options().model.name;
  job.injected = choose_fault(req, doc, state);
  try {
    job.answer = state.responder().respond(doc["messages"]);
  } catch (const std::exception& e) {
    throw bad_request(std::string("'messages' could not be read: ") + e.what());
  }
  job.usage = state.options().usage;
  job.stream_usage = include_usage(doc);
  for (int k = 1; k < choice_count(doc); ++k) job.more.push_back(state.responder().respond(doc["messages"], k));
  shape_answers(doc, job);
  if (state.options().tool_calls) job.tool = first_tool_name(doc);
  job.latency = state.draw_latency();
  job.id = state.next_completion_id();
  job.created = static_cast<std::int64_t>(std::time(nullptr));
  return job;
}



string_response method_not_allowed(const string_request& req) {
  return json_response(http::status::method_not_allowed,
                       error_doc("method " + std::string(req.method_string()) + " is not allowed on " +
                                     std::string(req.target()),
                                 "invalid_request_error"),
                       req.version(), req.keep_alive());
}

routed_request handle_chat(const string_request& req, server_state& state) {
  ++state.count().requests;
  state.count_extra_headers(req);
  if (auto auth = req.find(http::field::authorization);
      auth != req.end() && auth->value().size() > 7 && auth->value().substr(0, 7) == "Bearer ")
    ++state.count().bearer_requests;
  try {
    return {std::nullopt, read_chat_request(req, state)};
  } catch (const bad_request& e) {
    ++state.count().invalid_requests;
    return {json_response(http::status::bad_request, error_doc(e.what(), "invalid_request_error"), req.version(),
                          req.keep_alive()),
            {}};
  }
}

}  // namespace

routed_request route(const string_request& req, server_state& state) {
  auto target = std::string_view(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  auto method = req.method();
  auto version = req.version();
  auto keep_alive = req.keep_alive();
  if (path == "/v1/chat/completions") {
    if (method != http::verb::post) return {method_not_allowed(req), {}};
    return handle_chat(req, state);
  }
  if (path == "/v1/models") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    json models{{"object", "list"},
                {"data", json::array({{{"id", "mock"}, {"object", "model"}, {"owned_by", "cohort"}}})}};
    return {json_response(http::status::ok, models, version, keep_alive), {}};
  }
  if (path == "/last-request") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    auto last = state.last_request();
    if (!last)
      return {json_response(http::status::not_found,
                            error_doc("no chat completion request received yet", "invalid_request_error",
                                      "no_request_yet"),
                            version, keep_alive),
              {}};
    return {make_response(http::status::ok, *last, version, keep_alive), {}};
  }
  if (path == "/stats") {
    if (method != http::verb::get) return {method_not_allowed(req), {}};
    return {json_response(http::status::ok, state.stats(1), version, keep_alive), {}};
  }
  return {json_response(http::status::not_found,
                        error_doc("Invalid URL (" + std::string(req.method_string()) + " " + std::string(path) + ")",
                                  "invalid_request_error", "not_found"),
                        version, keep_alive),
          {}};
}

}  // namespace cohort::mock_llm
