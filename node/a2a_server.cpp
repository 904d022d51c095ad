#include "node/a2a_server.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "messages/input_limits.hpp"
#include "node/a2a_wire.hpp"
#include "node/request_parts.hpp"

namespace cohort::node {
namespace {

namespace http = boost::beast::http;

std::string text_of(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A run's events as A2A stream events (JSON-RPC answers to the message/stream request)
// on an SSE connection: the task first, "working" once the run starts, a streaming
// model's pieces appended to the output artifact, then the output (replacing them) and
// the final status.
class stream_relay : public event_watcher {
 public:
  static void watch(run_registry& runs, std::shared_ptr<event_watcher> out, nlohmann::json rpc_id, std::string task_id,
                    std::string context_id) {
    auto relay = std::make_shared<stream_relay>(std::move(out), std::move(rpc_id), task_id, std::move(context_id));
    relay->self_ = relay;  // the registry holds watchers weakly: alive until the stream ends
    runs.watch(task_id, 0, relay);
  }
  stream_relay(std::shared_ptr<event_watcher> out, nlohmann::json rpc_id, std::string task_id, std::string context_id)
      : out_(std::move(out)),
        rpc_id_(std::move(rpc_id)),
        task_id_(std::move(task_id)),
        context_id_(std::move(context_id)) {}

  void deliver(const nlohmann::json& event, bool) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto kind = event.value("kind", "");
    if (kind == "started" && !working_) {
      working_ = true;
      send(a2a::status_update(task_id_, context_id_, {{"state", "working"}}, false));
    } else if (kind == "token" && !ended_) {
      // A streaming model's pieces, appended to the output artifact; the final one replaces them.
      send({{"kind", "artifact-update"},
            {"taskId", task_id_},
            {"contextId", context_id_},
            {"append", true},
            {"lastChunk", false},
            {"artifact",
             {{"artifactId", "output"},
              {"name", "output"},
              {"parts", {{{"kind", "text"}, {"text", event.value("text", "")}}}}}}});
    } else if (kind == "result" && !ended_) {
      ended_ = true;
      nlohmann::json run = {{"id", task_id_}};
      run.update(event.value("result", nlohmann::json::object()));
      auto t = a2a::task(run, context_id_);
      if (t.contains("artifacts"))
        send({{"kind", "artifact-update"},
              {"taskId", task_id_},
              {"contextId", context_id_},
              {"artifact", t["artifacts"][0]},
              {"append", false},
              {"lastChunk", true}});
      send(a2a::status_update(task_id_, context_id_, t["status"], true));
    }
  }
  void end() override {
    out_->end();
    std::shared_ptr<stream_relay> last;  // let go after the lock: it may be this object's last reference
    std::lock_guard<std::mutex> lock(mutex_);
    last = std::move(self_);
  }
  void deliver_data(const std::string&) override {}
  void on_close(std::function<void()>) override {}

 private:
  void send(nlohmann::json result) { out_->deliver_data(text_of(a2a::rpc_result(rpc_id_, std::move(result)))); }

  std::mutex mutex_;
  std::shared_ptr<event_watcher> out_;
  nlohmann::json rpc_id_;
  std::string task_id_, context_id_;
  std::shared_ptr<stream_relay> self_;
  bool working_ = false, ended_ = false;
};

http_reply rpc_reply(const nlohmann::json& doc) { return json_reply(200, doc); }

// Answers with the task once its run has ended.
void answer_when_ended(run_registry& runs, const reply_sink& sink, const nlohmann::json& rpc_id,
                       const std::string& task_id, const std::string& context) {
  auto answer = [sink, rpc_id, context](const nlohmann::json& run) {
    sink(rpc_reply(a2a::rpc_result(rpc_id, a2a::task(run, context))));
  };
  try {
    runs.await_end(task_id, run_registry::no_deadline, answer);
  } catch (const api_error&) {  // ended and forgotten meanwhile
    answer({{"id", task_id}, {"status", "failed"}, {"error", {{"message", "the run's result is no longer kept"}}}});
  }
}

}  // namespace

http_reply a2a_server::handle(const http_request& req, const std::string& path) {
  auto rest = path.substr(5);  // after "/a2a/"
  auto slash = rest.find('/');
  auto name = rest.substr(0, slash);
  auto tail = slash == std::string::npos ? std::string() : rest.substr(slash);
  if (!plain_name(name) || runs_.scenarios().find(name).is_null())
    throw api_error(404, "unknown_agent", "no A2A agent " + name + " (the node's scenarios are: GET /v1/scenarios)",
                    {{path, "route"}});
  if (tail == "/.well-known/agent-card.json" || tail == "/.well-known/agent.json") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    auto host = req.find(http::field::host);
    std::string base = "http://" + (host == req.end() ? std::string("127.0.0.1") : std::string(host->value()));
    return json_reply(200, a2a::agent_card(name, runs_.scenarios().find(name), base + "/a2a/" + name));
  }
  if (!tail.empty() && tail != "/") throw api_error(404, "not_found", "no route " + path, {{path, "route"}});
  if (req.method() != http::verb::post) throw method_not_allowed(req, path);
  auto rpc = parse_untrusted_json_or_discarded(req.body());
  if (rpc.is_discarded()) return rpc_reply(a2a::rpc_error(nullptr, a2a::parse_error, "the body is not valid JSON"));
  return call(name, rpc);
}

http_reply a2a_server::call(const std::string& name, const nlohmann::json& rpc) {
  nlohmann::json id = rpc.is_object() && rpc.contains("id") ? rpc["id"] : nlohmann::json();
  if (!rpc.is_object() || rpc.value("jsonrpc", "") != "2.0" || !rpc.contains("method") || !rpc["method"].is_string() ||
      !(id.is_string() || id.is_number_integer() || id.is_null()))
    return rpc_reply(a2a::rpc_error(id, a2a::invalid_request,
                                    "a JSON-RPC 2.0 request has \"jsonrpc\": \"2.0\", \"method\" and \"id\""));
  auto method = rpc["method"].get<std::string>();
  auto params = rpc.value("params", nlohmann::json::object());
  if (!params.is_object()) return rpc_reply(a2a::rpc_error(id, a2a::invalid_params, "params must be an object"));
  try {
    if (method == "message/send" || method == "message/stream")
      return send(name, id, params, method == "message/stream");
    if (method == "tasks/get" || method == "tasks/cancel" || method == "tasks/resubscribe") {
      auto task_id = task_id_of(params, "params.id");
      auto run = owned_run(name, task_id);
      auto context = context_of(task_id);
      if (method == "tasks/get") return rpc_reply(a2a::rpc_result(id, a2a::task(run, context)));
      if (method == "tasks/resubscribe") return stream_task(id, run, context);
      if (a2a::final_state(a2a::task_state(run.value("status", ""))))
        return rpc_reply(a2a::rpc_error(id, a2a::task_not_cancelable,
                                        "task " + task_id + " has already ended (" + run.value("status", "") + ")"));
      runs_.cancel(task_id);
      http_reply reply;  // the canceled task, once the run has ended
      reply.later = [this, id, task_id, context](const reply_sink& sink) {
        answer_when_ended(runs_, sink, id, task_id, context);
      };
      return reply;
    }
    if (method.rfind("tasks/pushNotificationConfig/", 0) == 0) {
      bool set = method == "tasks/pushNotificationConfig/set";
      auto task_id = task_id_of(params, set ? "params.taskId" : "params.id");
      owned_run(name, task_id);
      return push_config(method, id, task_id, params);
    }
    return rpc_reply(a2a::rpc_error(id, a2a::method_not_found, "no method " + method));
  } catch (const api_error& e) {
    int code = e.status() == 404 ? a2a::task_not_found : e.status() == 400 ? a2a::invalid_params : a2a::internal_error;
    return rpc_reply(a2a::rpc_error(id, code, e.what()));
  } catch (const std::invalid_argument& e) {
    return rpc_reply(a2a::rpc_error(id, a2a::invalid_params, e.what()));
  }
}

http_reply a2a_server::send(const std::string& name, const nlohmann::json& id, const nlohmann::json& params,
                            bool stream) {
  const auto& message = params.value("message", nlohmann::json());
  auto configuration = params.value("configuration", nlohmann::json::object());
  if (configuration.is_null()) configuration = nlohmann::json::object();
  if (!configuration.is_object()) throw std::invalid_argument("params.configuration must be an object");
  auto push = configuration.value("pushNotificationConfig", nlohmann::json());
  if (!push.is_null()) a2a_push::check(push, "params.configuration.pushNotificationConfig");
  submission s;
  s.scenario_name = name;
  s.input = a2a::run_input(message);  // std::invalid_argument: invalid params
  auto run = runs_.submit(s).first;  // (a structured binding cannot be captured in C++17)
  auto task_id = run["id"].get<std::string>();
  std::string context = message.value("contextId", "");
  if (context.empty() || context.size() > 200) context = "ctx-" + task_id;
  remember_context(task_id, context);
  if (!push.is_null()) push_.set(task_id, context, push, "params.configuration.pushNotificationConfig");
  bool blocking = !(configuration.contains("blocking") && configuration["blocking"] == false);
  // The first event is the task as submitted, whatever the run did meanwhile (under
  // load it may have ended already): the replayed log that follows brings its pieces,
  // its artifact and its final state, so a streaming client sees them all.
  if (stream) return stream_task(id, {{"id", task_id}, {"status", "queued"}}, context);
  http_reply reply;
  // A run that ended before its brief was made: the whole document has its output.
  if (a2a::final_state(a2a::task_state(run.value("status", "")))) run = runs_.get(task_id);
  if (!blocking) return rpc_reply(a2a::rpc_result(id, a2a::task(run, context)));
  reply.later = [this, id, task_id, context](const reply_sink& sink) {
    answer_when_ended(runs_, sink, id, task_id, context);
  };
  return reply;
}

http_reply a2a_server::push_config(const std::string& method, const nlohmann::json& id, const std::string& task_id,
                                   const nlohmann::json& params) {
  auto entry = [&](nlohmann::json config) {
    return nlohmann::json{{"taskId", task_id}, {"pushNotificationConfig", std::move(config)}};
  };
  if (method == "tasks/pushNotificationConfig/set") {
    auto config = params.value("pushNotificationConfig", nlohmann::json());
    return rpc_reply(a2a::rpc_result(
        id, entry(push_.set(task_id, context_of(task_id), config, "params.pushNotificationConfig"))));
  }
  if (method == "tasks/pushNotificationConfig/list") {
    auto all = nlohmann::json::array();
    for (auto& c : push_.list(task_id)) all.push_back(entry(c));
    return rpc_reply(a2a::rpc_result(id, all));
  }
  auto config_id = task_id;  // A2A's default config id is the task's
  if (params.contains("pushNotificationConfigId")) {
    const auto& c = params["pushNotificationConfigId"];
    if (!c.is_string() || c.get_ref<const std::string&>().size() > 128)
      throw std::invalid_argument("params.pushNotificationConfigId must be a config id");
    config_id = c.get<std::string>();
  }
  auto missing = [&] { return "task " + task_id + " has no push notification config " + config_id; };
  if (method == "tasks/pushNotificationConfig/get") {
    auto config = push_.get(task_id, config_id);
    if (config.is_null()) throw std::invalid_argument(missing());
    return rpc_reply(a2a::rpc_result(id, entry(config)));
  }
  if (method == "tasks/pushNotificationConfig/delete") {
    if (!push_.remove(task_id, config_id)) throw std::invalid_argument(missing());
    return rpc_reply(a2a::rpc_result(id, nullptr));
  }
  return rpc_reply(a2a::rpc_error(id, a2a::method_not_found, "no method " + method));
}

// The task first (as `run` says it is), then the run's events from its start: a
// client that resubscribes sees the whole story again, ending with the final state.
http_reply a2a_server::stream_task(const nlohmann::json& id, const nlohmann::json& run, const std::string& context) {
  http_reply reply;
  auto task_id = run.value("id", "");
  reply.stream = [this, id, task_id, context, run](const std::shared_ptr<event_watcher>& w) {
    w->deliver_data(text_of(a2a::rpc_result(id, a2a::task(run, context))));
    stream_relay::watch(runs_, w, id, task_id, context);
  };
  return reply;
}

std::string a2a_server::task_id_of(const nlohmann::json& params, const std::string& field) {
  auto key = field.substr(field.rfind('.') + 1);
  if (!params.contains(key) || !params[key].is_string() || !plain_name(params[key].get<std::string>()))
    throw std::invalid_argument(field + " must be a task id");
  return params[key].get<std::string>();
}

nlohmann::json a2a_server::owned_run(const std::string& name, const std::string& task_id) {
  auto run = runs_.get(task_id);  // api_error 404: no such task
  if (run.value("scenario", "") != runs_.scenarios().find(name).value("name", "scenario"))
    throw api_error(404, "not_found", "agent " + name + " has no task " + task_id);
  return run;
}

std::string a2a_server::context_of(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(contexts_mutex_);
  auto it = contexts_.find(task_id);
  return it == contexts_.end() ? "ctx-" + task_id : it->second;
}

void a2a_server::remember_context(const std::string& task_id, const std::string& context_id) {
  std::lock_guard<std::mutex> lock(contexts_mutex_);
  if (contexts_.size() >= 10000) contexts_.erase(contexts_.begin());  // ids sort by time: the oldest goes
  contexts_[task_id] = context_id;
}

}  // namespace cohort::node
