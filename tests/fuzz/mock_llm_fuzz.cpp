// Fuzz target: `cohort mock-llm`'s handling of one request (mock_llm_answer: routing,
// reading a chat request, the simulated model, writing the answer), without sockets.
// Input: one byte of settings, then an HTTP request written with plain newlines:
//   bit 0 no usage, bit 1 --tool-calls, bit 2 scripted rules, bit 3 fault rate 0.5,
//   bits 4-5 the method (POST, GET, PUT, or an unknown one);
//   then "target\nName: value\n...\n\nbody".
// Every request gets an answer (4xx for a bad one) or a fault; an exception escaping is
// a bug (the server would answer 500 or, while answering, leave the client hanging).
// A chat answer must be one that cohort's own client reads as an answer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mock_llm/mock_llm_server.hpp"
#include "models/chat_completions.hpp"
#include "models/http/sse_parser.hpp"
#include "models/sim_responder.hpp"

namespace {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct fuzz_request {
  cohort::mock_llm_options options;
  std::string method;
  std::string target;
  header_list headers;
  std::string body;
};

// Scripted replies as tests and `--rules` files write them: capture groups, {{prompt}},
// weighted choices.
const std::vector<cohort::sim_rule>& scripted_rules() {
  static const auto rules = cohort::parse_sim_rules(nlohmann::json::parse(R"json([
    {"match": "item (\\d+)", "reply": "r{{1}}"},
    {"match": "(\\w+) view", "reply": "{{1}}! {{2}} {{prompt}}"},
    {"match": "^vote", "choices": [{"reply": "yes", "weight": 2}, "no", {"reply": "{{0}}", "weight": 0.5}]}
  ])json"), "rules");
  return rules;
}

cohort::mock_llm_options options_from(uint8_t settings) {
  cohort::mock_llm_options o;
  o.usage = !(settings & 1);
  o.tool_calls = settings & 2;
  if (settings & 4) o.model.rules = scripted_rules();
  if (settings & 8) o.fault_rate = 0.5;
  return o;
}

// A header line as an HTTP parser would pass it on: a token name, a value without
// control line breaks; anything else is dropped, as the parser would refuse it.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  return true;
}

void add_header(header_list& headers, std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return;
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  if (value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) return;
  headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
}

fuzz_request read_input(const uint8_t* data, size_t size) {
  static const char* const methods[] = {"POST", "GET", "PUT", "BREW"};
  fuzz_request r;
  uint8_t settings = size ? data[0] : 0;
  r.options = options_from(settings);
  r.method = methods[(settings >> 4) & 3];
  std::string_view text(reinterpret_cast<const char*>(data) + (size ? 1 : 0), size ? size - 1 : 0);
  auto line_end = text.find('\n');
  r.target = std::string(text.substr(0, line_end));
  while (line_end != std::string_view::npos) {
    text.remove_prefix(line_end + 1);
    line_end = text.find('\n');
    auto line = text.substr(0, line_end);
    if (line.empty()) break;  // the blank line before the body
    add_header(r.headers, line);
  }
  r.body = line_end == std::string_view::npos ? std::string() : std::string(text.substr(line_end + 1));
  return r;
}

[[noreturn]] void unreadable(const char* what, const std::string& body) {
  std::fprintf(stderr, "mock-llm answered what cohort cannot read (%s):\n%s\n", what, body.c_str());
  std::abort();
}

// The answer as the HTTP client reads it: a whole completion, or SSE events ending with [DONE].
void check_readable(const cohort::mock_llm_reply& reply, bool tool_calls) {
  using cohort::chat_answer;
  if (reply.body.rfind("data: ", 0) != 0) {
    auto answer = cohort::read_chat_answer(reply.body);
    auto expected = tool_calls ? chat_answer::form::tool_calls : chat_answer::form::text;
    if (answer.what != expected) unreadable("a whole answer", reply.body);
    return;
  }
  std::vector<std::string> events;
  cohort::sse_parser parser;
  auto on_event = [&](const std::string& data) { events.push_back(data); };
  parser.feed(reply.body, on_event);
  parser.finish(on_event);
  if (events.empty() || events.back() != "[DONE]") unreadable("a stream without [DONE]", reply.body);
  for (size_t i = 0; i + 1 < events.size(); ++i)
    if (cohort::read_chat_chunk(events[i]).what != cohort::chat_chunk::form::data)
      unreadable("a stream event", events[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = read_input(data, size);
  auto reply = cohort::mock_llm_answer(r.options, r.method, r.target, r.headers, r.body);
  bool chat = r.target.substr(0, r.target.find('?')) == "/v1/chat/completions";
  if (chat && reply.status == 200 && reply.fault.empty()) check_readable(reply, r.options.tool_calls);
  return 0;
}
