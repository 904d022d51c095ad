#pragma once
#include <atomic>
#include <memory>
// Model provider actors: they answer model_request with model_reply and accept
// (cancel_req_atom, request id) to withdraw a call.
#include <caf/fwd.hpp>

#include "spec/scenario.hpp"

namespace boost::asio {
class io_context;
}

namespace cohort {

// The in-process simulated model (latency by timer, never blocking a thread).
caf::actor spawn_sim_model(caf::actor_system& sys, const model_def& model);

// An HTTP client for one OpenAI-compatible endpoint, on the shared io_context.
// `open_connections` counts the client's connected sockets (the runtime's stats).
caf::actor spawn_http_client(caf::actor_system& sys, const model_def& model,
                             boost::asio::io_context& io, std::shared_ptr<std::atomic<int64_t>> open_connections);

}  // namespace cohort
