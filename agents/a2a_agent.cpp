// The a2a agent: a remote agent spoken to with the Agent2Agent protocol (JSON-RPC over
// HTTP). It sends its rendered prompt as a message (message/send, not blocking), asks
// for the task (tasks/get) every poll_ms until it ends, and answers the task's output;
// with "stream", message/stream's artifact pieces become token events as they come;
// a cancelled or timed-out branch cancels the remote task (tasks/cancel). The HTTP
// calls run on the runtime's I/O threads; no thread waits.
#include <algorithm>
#include <atomic>

#include <caf/all.hpp>

#include "agents/leaf_answer.hpp"
#include "agents/spawn_agent.hpp"
#include "messages/cancel.hpp"
#include "messages/input_limits.hpp"
#include "models/http/http_connection.hpp"
#include "models/http/http_target.hpp"
#include "models/http/sse_parser.hpp"
#include "models/http/tls_client.hpp"
#include "run/run_events.hpp"
#include "spec/template.hpp"

namespace cohort::a2a_detail {

// An HTTP answer, from an I/O thread to the agent (never leaves the process).
struct http_answer {
  http_outcome outcome;
};

}  // namespace cohort::a2a_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cohort::a2a_detail::http_answer)

namespace cohort {
namespace {

using a2a_detail::http_answer;
using poll_atom = caf::atom_constant<caf::atom("a2apoll")>;
using timeout_atom = caf::atom_constant<caf::atom("a2atimeout")>;
using stream_event_atom = caf::atom_constant<caf::atom("a2aevent")>;

struct remote {
  std::string host, port, host_header, target;
  std::shared_ptr<boost::asio::ssl::context> tls;
};

remote parse_remote(const std::string& text) {
  remote r;
  auto url = parse_http_target(text);  // checked when the scenario loaded
  if (!url) return r;
  r.host = url->host;
  r.port = url->port;
  r.host_header = url->host_header;
  r.target = url->target;
  if (url->https) r.tls = make_tls_client_context({"", true});
  return r;
}

// The output of a finished remote task: its artifacts' parts, a text part as a string,
// a data part as its data (cohort's own {"value": x} as x), several as a list.
nlohmann::json task_output(const nlohmann::json& task) {
  auto outputs = nlohmann::json::array();
  for (const auto& artifact : task.value("artifacts", nlohmann::json::array()))
    for (const auto& part : artifact.value("parts", nlohmann::json::array())) {
      if (part.value("kind", "") == "text") outputs.push_back(part.value("text", ""));
      if (part.value("kind", "") == "data") {
        auto data = part.value("data", nlohmann::json());
        outputs.push_back(data.is_object() && data.size() == 1 && data.contains("value") ? data["value"] : data);
      }
    }
  if (outputs.size() == 1) return outputs[0];
  return outputs;
}

// The task a JSON-RPC answer (or a stream's event) is about: a task's id, an update's
// taskId; "" when it names none.
std::string task_named(const nlohmann::json& rpc) {
  if (!rpc.is_object()) return {};
  auto result = rpc.find("result");
  if (result == rpc.end() || !result->is_object()) return {};
  auto kind = result->find("kind");
  auto id = result->find(kind != result->end() && *kind == "task" ? "id" : "taskId");
  return id != result->end() && id->is_string() ? id->get<std::string>() : std::string();
}

// The body of a 200 answer to message/stream: server-sent events, each a JSON-RPC
// answer of its own, or one plain JSON-RPC answer (a server refusing the call with an
// error answers so), which then counts as the stream's one event.
struct stream_body {
  sse_parser events;
  enum class form { unknown, json, events } shape = form::unknown;
  std::string json;

  void take(const std::string& bytes, const caf::actor& who) {
    if (shape == form::unknown) {
      auto first = bytes.find_first_not_of(" \t\r\n");
      if (first == std::string::npos) return;
      shape = bytes[first] == '{' ? form::json : form::events;
    }
    if (shape == form::json) {
      json += bytes;
      return;
    }
    events.feed(bytes, [&](const std::string& data) { caf::anon_send(who, stream_event_atom::value, data); });
  }
  void end(const caf::actor& who) {
    if (shape == form::json) caf::anon_send(who, stream_event_atom::value, std::move(json));
    shape = form::unknown;
  }
};

class a2a_agent_logic {
 public:
  a2a_agent_logic(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def)
      : self_(self), ctx_(std::move(ctx)), def_(def), remote_(parse_remote(def->url)) {}

  caf::result<result> start(const task& t) {
    task_ = t;
    start_us_ = now_us();
    promise_ = self_->make_response_promise();
    emit(*ctx_, t, event_kind::started, def_->name);
    if (auto reason = early_cancel_.take_at_start()) {
      finish(failure(outcome::cancelled, "cancelled", *reason));
      return promise_;
    }
    std::string text;
    try {
      text = render(def_->prompt, make_scope(*ctx_, t));
    } catch (const template_error& e) {
      finish(failure(outcome::failed, "invalid_input", "agent " + def_->name + ": " + e.what()));
      return promise_;
    }
    nlohmann::json message = {{"kind", "message"},
                              {"role", "user"},
                              {"messageId", t.run_id + "/" + t.path + "#" + std::to_string(t.attempt)},
                              {"parts", {{{"kind", "text"}, {"text", text}}}}};
    streaming_ = def_->stream;
    if (streaming_)
      call("message/stream", {{"message", message}});
    else
      call("message/send", {{"message", message}, {"configuration", {{"blocking", false}}}});
    auto limit = child_timeout_ms(*ctx_, t, def_->timeout_ms);
    if (limit > 0) self_->delayed_send(self_, std::chrono::milliseconds(limit), timeout_atom::value);
    return promise_;
  }

  void answered(const http_outcome& out) {
    if (!promise_.pending()) return late_answer(out);
    if (!out.error_kind.empty()) return finish(failure(outcome::failed, out.error_kind, where() + out.error));
    if (out.status != 200)
      return finish(failure(outcome::failed, out.status >= 500 ? "server_error" : "http_status",
                            where() + "HTTP " + std::to_string(out.status) + ": " + out.body.substr(0, 300)));
    if (streaming_) {  // the stream ended before the task did: ask for it from now on
      streaming_ = false;
      if (remote_task_.empty())
        return finish(failure(outcome::failed, "malformed_response", where() + "the stream ended without a task"));
      return poll();
    }
    took_rpc(out.body);
  }

  // One event of message/stream: a JSON-RPC answer of its own. After the branch ended
  // before the task's id was known, the first event that names the task is for
  // cancelling it.
  void stream_event(const std::string& data) {
    if (promise_.pending()) return took_rpc(data);
    if (!cancel_on_answer_) return;
    auto id = task_named(parse_untrusted_json_or_discarded(data));
    if (id.empty()) return;
    cancel_on_answer_ = false;
    remote_task_ = id;
    send_cancel();
    if (conn_) conn_->close();  // the rest of the stream is not wanted
    self_->quit();
  }

  void took_rpc(const std::string& text) {
    auto rpc = parse_untrusted_json_or_discarded(text);
    if (rpc.is_discarded() || !rpc.is_object())
      return finish(failure(outcome::failed, "malformed_response", where() + "the answer is not JSON-RPC"));
    if (rpc.contains("error") && rpc["error"].is_object())
      return finish(failure(outcome::failed, "remote_error",
                            where() + rpc["error"].value("message", "error") + " (code " +
                                rpc["error"].value("code", nlohmann::json(0)).dump() + ")"));
    took(rpc.value("result", nlohmann::json()));
  }

  // A result: a task (message/send, tasks/get, a stream's first event), a message, or a
  // stream's status or artifact update.
  void took(const nlohmann::json& got) {
    auto kind = got.is_object() ? got.value("kind", "") : "";
    if (kind == "message")
      return succeed(task_output({{"artifacts", {{{"parts", got.value("parts", nlohmann::json::array())}}}}}));
    if (kind == "artifact-update")
      return artifact(got.value("artifact", nlohmann::json::object()), got.value("append", false));
    if (kind == "status-update") {
      if (remote_task_.empty()) remote_task_ = got.value("taskId", "");
      return status(got.value("status", nlohmann::json::object()));
    }
    if (kind != "task" || !got.contains("id") || !got["id"].is_string())
      return finish(
          failure(outcome::failed, "malformed_response", where() + "the answer is neither a task nor a message"));
    remote_task_ = got["id"].get<std::string>();
    if (got.contains("artifacts") && got["artifacts"].is_array()) artifacts_ = got["artifacts"];
    status(got.value("status", nlohmann::json::object()));
  }

  // A streamed artifact, appended or replacing. Its text pieces are token events, but
  // for a replacement of one already shown piece by piece (a cohort node's final output).
  void artifact(const nlohmann::json& a, bool append) {
    auto id = a.value("artifactId", "");
    auto known = std::find_if(artifacts_.begin(), artifacts_.end(),
                              [&](const nlohmann::json& k) { return k.value("artifactId", "") == id; });
    if (append || known == artifacts_.end())
      for (const auto& part : a.value("parts", nlohmann::json::array()))
        if (part.value("kind", "") == "text")
          emit(*ctx_, task_, event_kind::token, def_->name, outcome::succeeded, part.value("text", ""));
    if (known == artifacts_.end()) return artifacts_.push_back(a);
    if (!append)
      *known = a;
    else
      for (const auto& part : a.value("parts", nlohmann::json::array())) (*known)["parts"].push_back(part);
  }

  void status(const nlohmann::json& st) {
    auto state = st.value("state", "");
    if (state == "completed") return succeed(task_output({{"artifacts", artifacts_}}));
    if (state == "failed" || state == "canceled" || state == "rejected")
      return finish(failure(outcome::failed, "remote_" + state,
                            where() + "task " + remote_task_ + " " + state + ": " +
                                st.value("/message/parts/0/text"_json_pointer, std::string("no reason given"))));
    if (state == "input-required" || state == "auth-required")
      return finish(failure(outcome::failed, "remote_" + state, where() + "task " + remote_task_ + " is " + state));
    if (!streaming_) self_->delayed_send(self_, std::chrono::milliseconds(def_->poll_ms), poll_atom::value);
  }

  void poll() {
    if (promise_.pending()) call("tasks/get", {{"id", remote_task_}});
  }

  // Cancelled (or timed out by its supervisor): the remote task is cancelled too. Before
  // message/send has answered there is no task id yet: the actor stays for that answer.
  void cancelled(const cancel& c) {
    if (!promise_.pending()) return early_cancel_.idle_cancel(c);
    bool unknown_task = promise_.pending() && remote_task_.empty();
    cancel_remote();
    finish(failure(outcome::cancelled, "cancelled", c.reason), unknown_task);
  }

  // Its own limit: a root agent has no supervisor to time it out.
  void timed_out() {
    bool unknown_task = promise_.pending() && remote_task_.empty();
    cancel_remote();
    finish(failure(outcome::timed_out, "timeout",
                   where() + "no answer within " + std::to_string(child_timeout_ms(*ctx_, task_, def_->timeout_ms)) +
                       " ms"),
           unknown_task);
  }

 private:
  std::string where() const { return task_.path + ": A2A agent " + def_->url + ": "; }

  void cancel_remote() {
    if (promise_.pending() && !remote_task_.empty()) send_cancel();
  }

  // tasks/cancel on a connection of its own, which lives until the remote answers.
  void send_cancel() {
    if (!ctx_->io) return;
    auto conn = connect();
    auto bytes = request_bytes("tasks/cancel", {{"id", remote_task_}});
    // The connection's own operations keep it alive until the answer; a strong capture
    // here would be a cycle that outlives a runtime shut down meanwhile.
    conn->send([bytes] { return bytes; }, std::chrono::milliseconds(5000), std::chrono::milliseconds(10000),
               [weak = std::weak_ptr<http_connection>(conn)](http_outcome) {
                 if (auto c = weak.lock()) c->close_gracefully();
               });
  }

  std::shared_ptr<http_connection> connect() {
    static auto sockets = std::make_shared<std::atomic<int64_t>>(0);
    return make_http_connection(*ctx_->io, remote_.host, remote_.port, remote_.tls, true, sockets);
  }

  std::string request_bytes(const std::string& method, nlohmann::json params, const char* accept = "application/json") {
    auto body =
        nlohmann::json{{"jsonrpc", "2.0"}, {"id", ++rpc_id_}, {"method", method}, {"params", std::move(params)}}.dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string head = "POST " + remote_.target + " HTTP/1.1\r\nHost: " + remote_.host_header +
                       "\r\nContent-Type: application/json\r\nAccept: " + accept + "\r\nUser-Agent: cohort/0.1\r\n";
    const char* key = def_->api_key_env.empty() ? nullptr : std::getenv(def_->api_key_env.c_str());
    if (key && !has_control_chars(key)) head += "Authorization: Bearer " + std::string(key) + "\r\n";
    return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  void call(const std::string& method, nlohmann::json params) {
    if (!ctx_->io) return finish(failure(outcome::failed, "no_io", where() + "this runtime makes no HTTP calls"));
    if (!conn_) conn_ = connect();
    auto bytes = request_bytes(method, std::move(params), streaming_ ? "text/event-stream" : "application/json");
    auto limit = std::chrono::milliseconds(std::max<int64_t>(1, child_timeout_ms(*ctx_, task_, def_->timeout_ms)));
    auto who = caf::actor_cast<caf::actor>(self_);
    http_connection::data_fn on_data;
    auto body = std::make_shared<stream_body>();
    if (streaming_)  // parsed on the I/O thread; each event goes to the actor
      on_data = [body, who](const std::string& bytes) { body->take(bytes, who); };
    conn_->send([bytes] { return bytes; }, std::min(limit, std::chrono::milliseconds(10000)), limit,
                [body, who](http_outcome out) {
                  body->end(who);  // before the end: a plain JSON answer (an error) is its one event
                  caf::anon_send(who, http_answer{std::move(out)});
                },
                on_data);
  }

  void succeed(nlohmann::json output) {
    result r;
    r.output = std::move(output);
    finish(std::move(r));
  }

  // `await_task`: the branch is answered, but message/send is still on its way: its
  // answer names the task to cancel (late_answer).
  void finish(result r, bool await_task = false) {
    if (!promise_.pending()) return;
    deliver_leaf_answer(*ctx_, task_, def_->name, start_us_, promise_, std::move(r));
    cancel_on_answer_ = await_task;
    if (await_task) return;
    if (conn_) streaming_ ? conn_->close() : conn_->close_gracefully();  // a stream still open is cut
    self_->quit();
  }

  void late_answer(const http_outcome& out) {
    if (!cancel_on_answer_) return;
    auto id = task_named(parse_untrusted_json_or_discarded(out.body));
    if (!id.empty() && out.status == 200) {
      remote_task_ = id;
      send_cancel();
    }
    if (conn_) conn_->close_gracefully();
    self_->quit();
  }

  caf::event_based_actor* self_;
  run_context_ptr ctx_;
  const agent_def* def_;
  remote remote_;
  std::shared_ptr<http_connection> conn_;
  task task_;
  caf::response_promise promise_;
  std::string remote_task_;
  early_cancel early_cancel_;
  bool cancel_on_answer_ = false;                       // answered before the remote task's id was known
  bool streaming_ = false;                              // message/stream's events are coming
  nlohmann::json artifacts_ = nlohmann::json::array();  // the remote task's, as they came
  int64_t rpc_id_ = 0;
  int64_t start_us_ = 0;
};

caf::behavior a2a_agent(caf::event_based_actor* self, run_context_ptr ctx, const agent_def* def) {
  auto logic = std::make_shared<a2a_agent_logic>(self, std::move(ctx), def);
  return {
      [=](const task& t) { return logic->start(t); },
      [=](http_answer& a) { logic->answered(a.outcome); },
      [=](poll_atom) { logic->poll(); },
      [=](stream_event_atom, const std::string& data) { logic->stream_event(data); },
      [=](timeout_atom) { logic->timed_out(); },
      [=](const cancel& c) { logic->cancelled(c); },
  };
}

}  // namespace

caf::actor spawn_a2a_agent(caf::actor_system& sys, const run_context_ptr& ctx, const agent_def& agent) {
  return sys.spawn(a2a_agent, ctx, &agent);
}

}  // namespace cohort
