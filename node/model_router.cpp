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
using route_atom = caf::atom_constant<caf::atom("route")>;
using desk_tick_atom = caf::atom_constant<caf::atom("desktick")>;

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
  model_request req;   // moved to the pool when the call starts
  std::string workflow;  // the caller's X-Workflow-Id ("" none)
  answer_ids ids;
  const model_def* model = nullptr;
  bool include_usage = false;
  std::shared_ptr<event_watcher> watcher;  // streamed
  reply_sink sink;                         // not streamed
  node_metrics* metrics = nullptr;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  size_t pieces = 0;    // text pieces streamed to the client
  bool broken = false;  // the upstream stream failed after pieces were sent: they cannot be taken back

  std::chrono::steady_clock::time_point deadline;  // set by its desk: a pool that never answers

  void count(const model_reply& r, const std::string& outcome) const {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    metrics->router_call(ids.model, workflow, outcome, r.prompt_tokens, r.completion_tokens,
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

using routed_call_ptr = std::shared_ptr<routed_call>;

}  // namespace
}  // namespace cohort::node

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::node::routed_call_ptr)

namespace cohort::node {
namespace {

// A router desk: a long-lived actor that carries routed calls from the model pool's
// answer (and a stream's pieces) to their clients. A call is not an actor of its own:
// spawning one and ending it (CAF's clock is told of every actor that ends) cost a
// fifth of the router's CPU. A desk bounds its calls' time with one timer a second.
class router_desk {
 public:
  explicit router_desk(caf::event_based_actor* self) : self_(self) {}

  void take(routed_call_ptr call) {
    auto id = call->req.id;
    // The pool bounds each attempt; this bounds a pool that never answers.
    call->deadline = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(2 * int64_t{call->model->request_timeout_ms} +
                                               call->model->connect_timeout_ms + 5000);
    if (call->watcher) call->req.on_delta = caf::actor_cast<caf::actor>(self_);
    auto req = std::move(call->req);
    auto provider = call->provider;
    calls_.emplace(id, std::move(call));
    // No CAF timeout on the request: tick() keeps the time for all of a desk's calls.
    self_->request(provider, caf::infinite, std::move(req))
        .then([this, id](model_reply& r) { end(id, r); },
              [this, id](caf::error& e) {
                model_reply r;
                r.error = {"internal", "the model did not answer: " + self_->system().render(e)};
                end(id, r);
              });
  }

  void delta(uint64_t id, const std::string& text) {
    if (auto call = find(id)) call->delta(text);
  }

  void reset(uint64_t id) {
    if (auto call = find(id); call && call->pieces > 0) call->broken = true;
  }

  // The client went away (or its stream ended): a call still running is withdrawn.
  void hangup(uint64_t id) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    caf::anon_send(it->second->provider, cancel_req_atom::value, id);
    it->second->count(model_reply{}, "client_gone");
    calls_.erase(it);
  }

  void tick() {
    auto now = std::chrono::steady_clock::now();
    std::vector<uint64_t> late;
    for (const auto& [id, call] : calls_)
      if (call->deadline <= now) late.push_back(id);
    for (auto id : late) {
      auto call = calls_.at(id);
      caf::anon_send(call->provider, cancel_req_atom::value, id);
      model_reply r;
      r.error = {"timeout", "the model " + call->ids.model + " did not answer in time"};
      end(id, r);
    }
    self_->delayed_send(self_, std::chrono::seconds(1), desk_tick_atom::value);
  }

  // The node stops: every call still here is answered.
  void stop(const caf::exit_msg& msg) {
    for (auto& [id, call] : calls_) {
      model_reply r;
      r.error = {"cancelled", "the node is stopping"};
      call->finish(r);
    }
    calls_.clear();
    self_->quit(msg.reason);
  }

 private:
  routed_call* find(uint64_t id) {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }

  void end(uint64_t id, model_reply& r) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;  // withdrawn (hang-up) or timed out meanwhile
    auto call = std::move(it->second);
    calls_.erase(it);
    call->finish(r);
  }

  caf::event_based_actor* self_;
  std::unordered_map<uint64_t, routed_call_ptr> calls_;
};

caf::behavior router_desk_actor(caf::event_based_actor* self) {
  auto logic = std::make_shared<router_desk>(self);
  self->set_exit_handler([=](caf::exit_msg& msg) { logic->stop(msg); });
  self->send(self, desk_tick_atom::value);
  return {
      [=](route_atom, routed_call_ptr& call) { logic->take(std::move(call)); },
      [=](stream_delta_atom, uint64_t id, const std::string& text) { logic->delta(id, text); },
      [=](stream_reset_atom, uint64_t id) { logic->reset(id); },
      [=](hangup_atom, uint64_t id) { logic->hangup(id); },
      [=](desk_tick_atom) { logic->tick(); },
  };
}

}  // namespace

struct model_router::impl {
  Runtime& runtime;
  std::map<std::string, model_def> models;
  std::map<std::string, caf::actor> providers;
  node_metrics& metrics;
  std::atomic<uint64_t> answers{0};
  std::vector<caf::actor> desks;  // as many as the runtime has scheduler threads
  std::atomic<size_t> next_desk{0};

  impl(Runtime& rt, std::map<std::string, model_def> m, node_metrics& nm)
      : runtime(rt), models(std::move(m)), metrics(nm) {
    auto& sys = runtime_access::system(runtime);
    for (size_t i = 0; i < std::max<size_t>(1, sys.scheduler().num_workers()); ++i) {
      desks.push_back(sys.spawn(router_desk_actor));
      runtime_access::adopt(runtime, desks.back());
    }
    for (const auto& [name, model] : models) {
      if (model.provider == model_provider::sim) {
        providers[name] = spawn_sim_model(sys, model);
        runtime_access::adopt(runtime, providers[name]);
      } else {
        providers[name] = runtime_access::model_provider(runtime, model);
      }
    }
  }

  // The desks' calls point at `models`: the desks end (answering what they hold) before it goes.
  ~impl() {
    caf::scoped_actor self{runtime_access::system(runtime)};
    for (const auto& desk : desks) {
      self->monitor(desk);
      self->send_exit(desk, caf::exit_reason::user_shutdown);
    }
    for (size_t i = 0; i < desks.size(); ++i)
      self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
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
  call->workflow = req.run_id;
  auto desk = impl_->desks[impl_->next_desk++ % impl_->desks.size()];
  // The hang-up comes after the call on the same desk's mailbox (sent later, from the
  // connection's strand): a desk that no longer has the call ignores it.
  auto hangup = [desk, id = req.id] { caf::anon_send(desk, hangup_atom::value, id); };
  http_reply reply;
  if (asked.stream) {
    reply.stream = [call, desk, hangup](const std::shared_ptr<event_watcher>& w) {
      call->watcher = w;
      w->on_close(hangup);
      caf::anon_send(desk, route_atom::value, call);
    };
  } else {
    reply.later = [call, desk](reply_sink sink) {
      call->sink = std::move(sink);
      caf::anon_send(desk, route_atom::value, call);
    };
    reply.on_hangup = hangup;
  }
  return reply;
}

}  // namespace cohort::node
