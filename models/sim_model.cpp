// The `sim` provider: the simulated model as an actor. Latency is a delayed message
// to itself, so thousands of calls wait at once without a thread each.
#include <unordered_map>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/model_call.hpp"
#include "models/provider_actors.hpp"
#include "models/sim_responder.hpp"

namespace cohort {
namespace {

struct sim_state {
  const char* name = "sim_model";
  std::unordered_map<uint64_t, std::pair<caf::response_promise, model_reply>> waiting;
};

model_reply to_reply(const sim_settings& s, const sim_responder::answer& a) {
  model_reply r;
  r.prompt_tokens = a.prompt_tokens;
  if (a.fail) {
    r.error = {"model_error", "sim model " + s.name + ": injected failure (failure_rate " +
                                  std::to_string(s.failure_rate) + ")"};
    return r;
  }
  r.ok = true;
  r.text = a.text;
  r.tool_calls = a.tool_calls;
  r.completion_tokens = a.completion_tokens;
  return r;
}

caf::behavior sim_model(caf::stateful_actor<sim_state>* self, sim_responder brain) {
  return {
    [=](const model_request& req) -> caf::result<model_reply> {
      sim_responder::answer answer;
      try {
        answer = brain.respond(req.messages, static_cast<uint64_t>(std::max(0, req.attempt - 1)));
      } catch (const std::exception& e) {  // the one model actor serves every agent: it must not die
        model_reply failed;
        failed.id = req.id;
        failed.error = {"model_error", "sim model " + brain.settings().name + ": " + e.what()};
        return failed;
      }
      auto reply = to_reply(brain.settings(), answer);
      reply.id = req.id;
      if (answer.latency_ms <= 0) return reply;
      auto rp = self->make_response_promise<model_reply>();
      self->state.waiting.emplace(req.id, std::make_pair(rp, std::move(reply)));
      self->delayed_send(self, std::chrono::milliseconds(answer.latency_ms),
                         sim_done_atom::value, req.id);
      return rp;
    },
    [=](sim_done_atom, uint64_t id) {
      auto it = self->state.waiting.find(id);
      if (it == self->state.waiting.end()) return;  // withdrawn
      it->second.first.deliver(std::move(it->second.second));
      self->state.waiting.erase(it);
    },
    [=](cancel_req_atom, uint64_t id) {
      auto it = self->state.waiting.find(id);
      if (it == self->state.waiting.end()) return;
      it->second.first.deliver(withdrawn_reply(id));
      self->state.waiting.erase(it);
    },
  };
}

}  // namespace

caf::actor spawn_sim_model(caf::actor_system& sys, const model_def& model) {
  return sys.spawn(sim_model, sim_responder(model.sim));
}

}  // namespace cohort
