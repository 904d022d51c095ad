// The HTTP-client actor for one OpenAI-compatible endpoint, when a model has a lone
// plain endpoint (a pool drives its endpoints itself): at most max_in_flight calls
// at once, the rest queued by priority, and cancellation that closes the in-flight
// request at once. The HTTP work is http_endpoint's.
#include <map>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/model_call.hpp"
#include "models/http/http_endpoint.hpp"
#include "models/provider_actors.hpp"

namespace cohort {
namespace {

struct queued_call {
  std::shared_ptr<const model_request> req;
  caf::response_promise promise;
};

struct client_state {
  const char* name = "http_client";
  std::unique_ptr<http_endpoint> endpoint;
  std::unordered_map<uint64_t, caf::response_promise> in_flight;
  // Beyond max_in_flight: highest priority first, then in order of arrival (ids grow).
  std::map<std::pair<int64_t, uint64_t>, queued_call> queued;
};

using client_actor = caf::stateful_actor<client_state>;

caf::behavior http_client(client_actor* self, model_def model, boost::asio::io_context* io,
                          std::shared_ptr<std::atomic<int64_t>> open_connections) {
  self->state.endpoint =
      std::make_unique<http_endpoint>(model, *io, std::move(open_connections), wake_by_message(self));
  auto max_in_flight = static_cast<size_t>(std::max(1, model.max_in_flight));

  // The orderly end (the run is over): close every connection here, in the actor's
  // own context, and tell every asker.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    st.endpoint->close();
    auto stopped = [](uint64_t id) { return model_reply{id, false, {"cancelled", "model client stopped"}, {}, 0, 0, false}; };
    for (auto& [id, promise] : st.in_flight) promise.deliver(stopped(id));
    st.in_flight.clear();
    for (auto& [key, c] : st.queued) c.promise.deliver(stopped(c.req->id));
    st.queued.clear();
    self->quit(msg.reason);
  });

  auto start = [=](std::shared_ptr<const model_request> req, caf::response_promise promise) {
    auto& st = self->state;
    st.in_flight.emplace(req->id, std::move(promise));
    st.endpoint->start(std::move(req));
  };

  auto pump = [=] {
    auto& st = self->state;
    while (!st.queued.empty() && st.endpoint->in_flight() < max_in_flight) {
      auto c = std::move(st.queued.begin()->second);
      st.queued.erase(st.queued.begin());
      start(std::move(c.req), std::move(c.promise));
    }
  };

  return {
    [=](model_request& req) -> caf::result<model_reply> {
      auto& st = self->state;
      auto promise = self->make_response_promise();
      auto call = std::make_shared<const model_request>(std::move(req));
      if (st.endpoint->in_flight() < max_in_flight) start(std::move(call), promise);
      else st.queued.emplace(std::make_pair(-int64_t{call->priority}, call->id), queued_call{call, promise});
      return promise;
    },
    [=](http_done_atom) {
      auto& st = self->state;
      for (auto& reply : st.endpoint->take_finished()) {
        auto it = st.in_flight.find(reply.id);
        if (it == st.in_flight.end()) continue;  // cancelled meanwhile
        it->second.deliver(std::move(reply));
        st.in_flight.erase(it);
      }
      pump();
    },
    [=](cancel_req_atom, uint64_t id) {
      auto& st = self->state;
      if (auto it = st.in_flight.find(id); it != st.in_flight.end()) {
        it->second.deliver(withdrawn_reply(id));
        st.in_flight.erase(it);
        st.endpoint->cancel(id);
        pump();
        return;
      }
      for (auto q = st.queued.begin(); q != st.queued.end(); ++q)
        if (q->first.second == id) {
          q->second.promise.deliver(withdrawn_reply(id));
          st.queued.erase(q);
          return;
        }
    },
  };
}

}  // namespace

caf::actor spawn_http_client(caf::actor_system& sys, const model_def& model, boost::asio::io_context& io,
                             std::shared_ptr<std::atomic<int64_t>> open_connections) {
  return sys.spawn(http_client, model, &io, std::move(open_connections));
}

}  // namespace cohort
