#pragma once
// The model pool: one actor per model alias, driving the HTTP calls to its endpoints.
// It speaks the provider protocol (model_request -> model_reply, (cancel_req_atom, id)
// withdraws a call) and decides where each call goes: only endpoints whose circuit
// breaker is closed (or half-open, for one probe), not paused by a 429's Retry-After,
// within their max_in_flight and rate limits; among those the one the call's affinity
// key used last, else the least loaded. A connection error or 5xx is tried once more
// on another endpoint. (stats_atom) answers the per-endpoint counters as JSON.
#include <atomic>
#include <memory>

#include <caf/fwd.hpp>

#include "spec/scenario.hpp"

namespace boost::asio {
class io_context;
}

namespace cohort {

// The calls' I/O runs on `io`; `open_connections` counts the pool's connected sockets
// (the runtime's stats).
caf::actor spawn_model_pool(caf::actor_system& sys, const model_def& model, boost::asio::io_context& io,
                            std::shared_ptr<std::atomic<int64_t>> open_connections);

}  // namespace cohort
