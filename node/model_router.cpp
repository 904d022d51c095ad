#include "node/model_router.hpp"

#include <chrono>
#include <mutex>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/input_limits.hpp"
#include "models/provider_actors.hpp"
#include "node/api_error.hpp"
#include "node/openai_wire.hpp"
#include "node/request_parts.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort::node {
namespace {

using hangup_atom = caf::atom_constant<caf::atom("hangup")>;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string json_text(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A caller's header (X-Workflow-Id, X-Agent-Id): "" when absent; refused when it
// could not be passed on as it is.
std::string caller_header(const http_request& req, const char* name) {
  auto h = req.find(name);
  if (h == req.end()) return {};
  std::string value(h->value());
  if (value.size() > 256 || has_control_chars(value))
    throw api_error(400, "invalid_header",
                    std::string(name) + " must be at most 256 characters, none a control character",
                    {{std::string("header ") + name, "not a usable id"}});
  return value;
}

// One routed call, from the request to the model until its answer is written.
struct routed_call {
  caf::actor provider;
  model_request req;
  answer_ids ids;
  const model_def* model = nullptr;
  bool include_usage = false;
  std::shared_ptr<event_watcher> watcher;  // streamed
  reply_sink sink;                         // not streamed
  node_metrics* metrics = nullptr;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  size_t pieces = 0;    // text pieces streamed to the client
  bool broken = false;  // the upstream stream failed after pieces were sent: they cannot be taken back

  // A client of a call not streamed that hangs up: told to the call's actor, which may
  // not run yet when it happens.
  std::mutex hangup_mutex;
  caf::actor_addr actor;
  bool hung_up = false;

  void client_gone() {
    std::lock_guard<std::mutex> lock(hangup_mutex);
    hung_up = true;
    if (auto a = caf::actor_cast<caf::actor>(actor)) caf::anon_send(a, hangup_atom::value);
  }
  void attach(const caf::actor& a) {
    std::lock_guard<std::mutex> lock(hangup_mutex);
    actor = a.address();
    if (hung_up) caf::anon_send(a, hangup_atom::value);
  }

  void count(const model_reply& r, const std::string& outcome) const {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    metrics->router_call(ids.model, req.run_id, outcome, r.prompt_tokens, r.completion_tokens,
                         model->cost(r.prompt_tokens, r.completion_tokens), seconds);
  }

  void delta(const std::string& text) {
    if (broken || text.empty()) return;
    watcher->deliver_data(json_text(text_chunk_json(ids, text, pieces == 0)));
    ++pieces;
  }

  void finish(const model_reply& r) {
    count(r, r.ok ? "ok" : r.error.kind);
    if (watcher) return finish_stream(r);
    if (r.ok) return sink(json_reply(200, completion_json(ids, r)));
    auto status = status_of(r.error);
    auto reply = json_reply(status, openai_error_json(status, r.error.kind, r.error.message));
    if (status == 429)
      reply.headers.emplace_back("Retry-After",
                                 std::to_string(std::max<int64_t>(1, (r.error.retry_after_ms + 999) / 1000)));
    sink(std::move(reply));
  }

  void finish_stream(const model_reply& r) {
    if (r.ok && !broken) {
      if (pieces == 0 && !r.text.empty()) delta(r.text);  // an upstream that does not stream: one piece
      watcher->deliver_data(json_text(final_chunk_json(ids, r, pieces == 0)));
      if (include_usage) watcher->deliver_data(json_text(usage_chunk_json(ids, r)));
      watcher->deliver_data("[DONE]");
    } else {
      // Mid-stream: the status line is sent, so the error is an event (OpenAI's SDKs raise it).
      auto error =
          broken ? error_info{"stream_broken", "the model's stream failed part way; the pieces sent are incomplete"}
                 : r.error;
      watcher->deliver_data(json_text(openai_error_json(status_of(error), error.kind, error.message)));
    }
    watcher->end();
  }
};

caf::behavior route_call(caf::event_based_actor* self, std::shared_ptr<routed_call> call) {
  if (call->watcher) {
    call->req.on_delta = caf::actor_cast<caf::actor>(self);
    call->watcher->on_close([who = caf::actor_cast<caf::actor>(self)] { caf::anon_send(who, hangup_atom::value); });
  } else {
    call->attach(caf::actor_cast<caf::actor>(self));
  }
  // The pool bounds each attempt; this bounds a pool that never answers.
  auto limit =
      std::chrono::milliseconds(2 * int64_t{call->model->request_timeout_ms} + call->model->connect_timeout_ms + 5000);
  self->request(call->provider, limit, call->req)
      .then(
          [=](model_reply& r) {
            call->finish(r);
            self->quit();
          },
          [=](caf::error& e) {
            model_reply r;
            r.error = {e == caf::sec::request_timeout ? "timeout" : "internal",
                       "the model " + call->ids.model + " did not answer: " + self->system().render(e)};
            call->finish(r);
            self->quit();
          });
  return {
      [=](stream_delta_atom, uint64_t, const std::string& text) { call->delta(text); },
      [=](stream_reset_atom, uint64_t) {
        if (call->pieces > 0) call->broken = true;
      },
      [=](hangup_atom) {
        // The client went away (or its stream ended): a call still running is withdrawn.
        caf::anon_send(call->provider, cancel_req_atom::value, call->req.id);
        call->count(model_reply{}, "client_gone");
        self->quit();
      },
  };
}

}  // namespace

struct model_router::impl {
  Runtime& runtime;
  std::map<std::string, model_def> models;
  std::map<std::string, caf::actor> providers;
  node_metrics& metrics;
  std::atomic<uint64_t> answers{0};

  impl(Runtime& rt, std::map<std::string, model_def> m, node_metrics& nm)
      : runtime(rt), models(std::move(m)), metrics(nm) {
    auto& sys = runtime_access::system(runtime);
    for (const auto& [name, model] : models) {
      if (model.provider == model_provider::sim) {
        providers[name] = spawn_sim_model(sys, model);
        runtime_access::adopt(runtime, providers[name]);
      } else {
        providers[name] = runtime_access::model_provider(runtime, model);
      }
    }
  }
};

model_router::model_router(Runtime& runtime, std::map<std::string, model_def> models, node_metrics& metrics)
    : impl_(std::make_unique<impl>(runtime, std::move(models), metrics)) {}

model_router::~model_router() = default;

http_reply model_router::list_models() const {
  auto data = nlohmann::json::array();
  for (const auto& [name, model] : impl_->models)
    data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "cohort"}});
  return json_reply(200, {{"object", "list"}, {"data", std::move(data)}});
}

http_reply model_router::chat_completions(const http_request& http) {
  auto asked = read_chat_call(body_json(http));
  auto it = impl_->models.find(asked.model);
  if (it == impl_->models.end())
    throw api_error(404, "model_not_found", "the node has no model \"" + asked.model + "\" (GET /v1/models lists them)",
                    {{"$.model", "unknown model"}});
  auto call = std::make_shared<routed_call>();
  call->provider = impl_->providers.at(it->first);
  call->model = &it->second;
  call->metrics = &impl_->metrics;
  call->include_usage = asked.include_usage;
  call->ids = {"chatcmpl-" + std::to_string(now_s()) + "-" + std::to_string(++impl_->answers), now_s(), it->first};
  auto& req = call->req;
  req.id = next_model_request_id();
  req.messages = std::move(asked.messages);
  req.params = std::move(asked.params);
  req.run_id = caller_header(http, "X-Workflow-Id");  // the pool's affinity key
  req.agent = caller_header(http, "X-Agent-Id");
  req.path = req.agent;
  auto& sys = runtime_access::system(impl_->runtime);
  http_reply reply;
  if (asked.stream) {
    reply.stream = [call, &sys](const std::shared_ptr<event_watcher>& w) {
      call->watcher = w;
      sys.spawn(route_call, call);
    };
  } else {
    reply.later = [call, &sys](reply_sink sink) {
      call->sink = std::move(sink);
      sys.spawn(route_call, call);
    };
    reply.on_hangup = [call] { call->client_gone(); };
  }
  return reply;
}

}  // namespace cohort::node
