#pragma once
// What mock-llm writes: OpenAI documents (completions, errors), the timed SSE events
// of a streamed answer, and HTTP responses.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/beast/http/status.hpp>

#include "mock_llm/server_state.hpp"

namespace cohort::mock_llm {

constexpr const char* server_name = "cohort-mock-llm";

// What the server writes of a document. Answers echo what clients sent (a target, a
// fault name, a cut of a prompt), which may not be valid UTF-8: such bytes become
// U+FFFD rather than an exception (and a 500) in the middle of answering.
std::string dump_for_client(const json& doc);

json error_doc(const std::string& message, const std::string& type, const json& code = nullptr);

// What one chat completion request asks for, decided before any waiting.
struct chat_job {
  std::string id;
  std::int64_t created = 0;
  std::string model;
  bool stream = false;
  fault injected = fault::none;
  std::chrono::milliseconds latency{0};
  sim_responder::answer answer;
  std::vector<sim_responder::answer> more;  // choices 1.. when the request asks for n of them
  bool usage = true;  // report usage (off: --no-usage)
  bool stream_usage = false;  // streamed: usage in a last chunk (stream_options.include_usage)
  std::string tool;   // --tool-calls: answer with one call to this tool instead of text
};

json completion_doc(const chat_job& job);

// The SSE events of a streamed answer, each with its due time after the stream
// starts: the role first at once, the words spread evenly over the latency, then
// the finish chunk (with usage) and [DONE] when the latency has passed.
struct sse_event_plan {
  std::vector<std::string> events;
  std::vector<std::chrono::microseconds> due;
};
sse_event_plan plan_stream(const chat_job& job);

string_response make_response(http::status status, std::string body, unsigned version, bool keep_alive,
                              const char* content_type = "application/json");
string_response json_response(http::status status, const json& doc, unsigned version, bool keep_alive);

// The answer to a chat job that is not streamed: the completion, or its injected
// 429 (with Retry-After), 500 or malformed body. (A drop or a hang has no answer.)
string_response job_answer(const chat_job& job, unsigned version, bool keep_alive, int retry_after_s);

// A request that did not arrive within `header_timeout_ms` (408), or one that could not
// be read (413 when over the body limit, else 400): each closes the connection.
string_response request_timeout_answer(int header_timeout_ms);
string_response bad_request_answer(bool too_large, const std::string& why);

}  // namespace cohort::mock_llm
