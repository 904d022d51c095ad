#pragma once
// One client connection of mock-llm: reads requests (bounded in size and time), plays
// chat jobs (latency, streaming, injected faults), and notices a client that leaves.
#include <memory>

#include "mock_llm/server_state.hpp"

namespace cohort::mock_llm {

// Serve an accepted client until it leaves or stop() closes it; nothing when the
// server is already stopping (the socket is closed).
void serve(tcp::socket socket, const std::shared_ptr<server_state>& state);
void serve(tls_socket socket, const std::shared_ptr<server_state>& state);

}  // namespace cohort::mock_llm
