#pragma once
// Routing: what a request gets, decided without its connection (and so testable
// without a socket: mock_llm_answer). Reading a chat request checks it as untrusted
// input and decides the whole answer (text, fault, latency) at once.
#include <optional>

#include "mock_llm/answers.hpp"

namespace cohort::mock_llm {

// An answer to send at once, or a chat job for the connection to play (wait, then
// answer, stream or misbehave).
struct routed_request {
  std::optional<string_response> answer;
  chat_job job;
};

routed_request route(const string_request& req, server_state& state);

}  // namespace cohort::mock_llm
