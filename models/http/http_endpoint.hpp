#pragma once
// The calls to one OpenAI-compatible endpoint, for the actor that drives them: the
// HTTP client actor of a lone endpoint, or a model pool for each of its endpoints
// (so a pooled call crosses no actor but the pool). POST /chat/completions on
// keep-alive connections; requests are encoded, and answers read, on the shared
// io_context's thread. Only its owning actor calls it, and the owner keeps to
// max_in_flight: this class queues nothing.
//
// Finished calls wait in an inbox; `wake` runs on an I/O thread once per batch of them
// (after the other answers of that round of I/O are in), and the owner then takes them.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/model_call.hpp"
#include "spec/scenario.hpp"

namespace boost::asio {
class io_context;
}

namespace cohort {

class http_endpoint {
 public:
  // `model` as seen by this endpoint (model_def::for_endpoint); `open_connections`
  // counts its connected sockets (the runtime's stats).
  http_endpoint(const model_def& model, boost::asio::io_context& io,
                std::shared_ptr<std::atomic<int64_t>> open_connections, std::function<void()> wake);
  // Closes every connection.
  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  // Sends the call (on an idle connection, else a new one). Its reply, success or
  // error, comes out of take_finished(). A streaming model's text pieces go to
  // req->on_delta as they arrive.
  void start(std::shared_ptr<const model_request> req);

  // Withdraws a call in flight and closes its connection, so the server sees it go.
  // False if the call was not in flight here.
  bool cancel(uint64_t id);

  // The replies of the calls finished since the last take. A call whose reused
  // keep-alive connection turned out closed by the server is sent once more on a
  // fresh one instead of failing.
  std::vector<model_reply> take_finished();

  size_t in_flight() const;

  // Closes every connection: calls in flight never finish.
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The `wake` an owning actor passes: it sends the owner (http_done_atom), then the
// owner takes the finished calls. It holds the owner only weakly, so a pending I/O
// handler does not keep the actor alive.
std::function<void()> wake_by_message(caf::abstract_actor* owner);

}  // namespace cohort
