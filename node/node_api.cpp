#include "node/node_api.hpp"

#include <algorithm>
#include <cctype>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "messages/input_limits.hpp"
#include "node/openai_wire.hpp"
#include "node/request_parts.hpp"

namespace cohort::node {
namespace {

namespace http = boost::beast::http;

// How long a submission may wait for its run's end in the same request.
constexpr int64_t max_wait_ms = 300000;

submission submission_of(const nlohmann::json& body) {
  if (!body.is_object()) throw api_error(400, "invalid_request", "the body must be a JSON object", {{"$", "not an object"}});
  submission s;
  auto scenario = body.find("scenario");
  auto name = body.find("scenario_name");
  if ((scenario != body.end()) == (name != body.end()))
    throw api_error(400, "invalid_request", "give exactly one of \"scenario\" and \"scenario_name\"",
                    {{"$", "needs \"scenario\" (a document) or \"scenario_name\""}});
  if (scenario != body.end()) {
    if (!scenario->is_object()) throw api_error(400, "invalid_request", "\"scenario\" must be an object", {{"$.scenario", "not an object"}});
    s.scenario = *scenario;
  } else {
    if (!name->is_string() || !plain_name(name->get<std::string>()))
      throw api_error(400, "invalid_request", "\"scenario_name\" must be a name of letters, digits, '-', '_', '.'",
                      {{"$.scenario_name", "not a plain name"}});
    s.scenario_name = name->get<std::string>();
  }
  if (auto input = body.find("input"); input != body.end()) s.input = *input;
  if (auto key = body.find("idempotency_key"); key != body.end()) {
    if (!key->is_string() || key->get<std::string>().empty() || key->get<std::string>().size() > 200)
      throw api_error(400, "invalid_request", "\"idempotency_key\" must be a string of 1 to 200 characters",
                      {{"$.idempotency_key", "bad key"}});
    s.idempotency_key = key->get<std::string>();
  }
  if (auto wait = body.find("wait_ms"); wait != body.end()) {
    if (!wait->is_number_integer() || wait->get<int64_t>() < 0 || wait->get<int64_t>() > max_wait_ms)
      throw api_error(400, "invalid_request", "\"wait_ms\" must be a whole number of milliseconds, 0 to 300000",
                      {{"$.wait_ms", "out of range"}});
    s.wait_ms = wait->get<int64_t>();
  }
  return s;
}

http_reply error_reply(const api_error& e, bool openai_shape) {
  auto reply = json_reply(e.status(), openai_shape ? openai_error_json(e.status(), e.kind(), e.what(),
                                                                       e.problems().empty() ? "" : e.problems()[0].path)
                                                   : e.to_json());
  if (e.status() == 429) reply.headers.emplace_back("Retry-After", "1");
  if (e.status() == 401) reply.headers.emplace_back("WWW-Authenticate", "Bearer");
  return reply;
}

}  // namespace

bool same_secret(const std::string& a, const std::string& b) {
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() != b.size() ? 1 : 0;
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0 && !a.empty();
}

void node_api::authenticate(const http_request& req) const {
  if (options_.token.empty()) return;
  auto h = req.find(http::field::authorization);
  const std::string prefix = "Bearer ";
  std::string given = h == req.end() ? "" : std::string(h->value());
  if (given.compare(0, prefix.size(), prefix) != 0 || !same_secret(given.substr(prefix.size()), options_.token))
    throw api_error(401, "unauthorized", "this node needs \"Authorization: Bearer <token>\"",
                    {{"header Authorization", h == req.end() ? "missing" : "not the node's token"}});
}

http_reply node_api::handle(const http_request& req) {
  std::string target(req.target());
  auto q = target.find('?');
  auto path = target.substr(0, q);
  try {
    if (path == "/healthz") {
      if (req.method() != http::verb::get) throw method_not_allowed(req, path);
      return json_reply(200, {{"status", "ok"}});
    }
    authenticate(req);
    return route(req, target);
  } catch (const api_error& e) {
    // The router's routes answer in OpenAI's error shape, which OpenAI clients read.
    return error_reply(e, path == "/v1/chat/completions" || path == "/v1/models");
  }
}

http_reply node_api::route(const http_request& req, const std::string& target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto query = q == std::string::npos ? std::string() : target.substr(q + 1);
  if (path == "/metrics") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    return text_reply(200, metrics_.render(), "text/plain; version=0.0.4");
  }
  if (path == "/readyz") {
    if (!accepting_) return json_reply(503, {{"status", "draining"}});
    return json_reply(200, {{"status", "ready"}, {"running", runs_.running()}});
  }
  if (path == "/v1/scenarios") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    return json_reply(200, runs_.scenarios().names());
  }
  if (path.rfind("/v1/scenarios/", 0) == 0) {
    auto name = path.substr(14);
    if (!plain_name(name)) throw api_error(400, "invalid_name", "a scenario name is letters, digits, '-', '_', '.'", {{path, "route"}});
    if (req.method() != http::verb::put) throw method_not_allowed(req, path);
    auto doc = body_json(req);
    runs_.scenarios().add(name, doc);
    return json_reply(201, {{"name", name}});
  }
  if (path == "/v1/runs" || path.rfind("/v1/runs/", 0) == 0) return runs_route(req, path, query);
  if (path.rfind("/v1/workflows/", 0) == 0) return agents_.handle(req, path, query);
  if (path.rfind("/a2a/", 0) == 0) return a2a_.handle(req, path);
  if (path == "/v1/chat/completions") {
    if (req.method() != http::verb::post) throw method_not_allowed(req, path);
    return router_.chat_completions(req);
  }
  if (path == "/v1/cluster") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    if (!cluster_) throw api_error(404, "no_cluster", "this node has no cluster port (serve --cluster-port)", {{path, "route"}});
    return json_reply(200, cluster_->status());
  }
  if (path == "/v1/models") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    return router_.list_models();
  }
  throw api_error(404, "not_found", "no route " + path, {{path, "route"}});
}

void node_api::answer_submitted(run_registry& runs, const reply_sink& sink, nlohmann::json doc, bool created,
                                int64_t wait_ms, const std::shared_ptr<pending_wait>& wait) {
  auto answer = [status = created ? 201u : 200u, location = "/v1/runs/" + doc["id"].get<std::string>(),
                 sink](const nlohmann::json& run) {
    auto reply = json_reply(status, run);
    reply.headers.emplace_back("Location", location);
    sink(std::move(reply));
  };
  if (wait_ms == 0 || doc.value("status", "") == "pruned") return answer(doc);
  std::lock_guard<std::mutex> lock(wait->mutex);
  if (wait->gone) return;  // the client left before its wait began
  try {  // the answer waits for the run's end or the time
    wait->id = doc["id"].get<std::string>();
    wait->serial = runs.await_end(wait->id, wait_ms, answer);
  } catch (const api_error&) {  // ended and forgotten already (DELETE, retention)
    answer(doc);
  }
}

http_reply node_api::runs_route(const http_request& req, const std::string& path, const std::string& query) {
  if (path == "/v1/runs") {
    if (req.method() == http::verb::get) {
      auto limit_text = query_value(query, "limit");
      size_t limit = 50;
      if (!limit_text.empty()) {
        if (limit_text.size() > 4 || limit_text.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(limit_text) == 0 || std::stoul(limit_text) > 1000)
          throw api_error(400, "invalid_query", "limit must be 1 to 1000", {{"query limit", limit_text}});
        limit = std::stoul(limit_text);
      }
      return json_reply(200, runs_.list(query_value(query, "status"), limit, query_value(query, "after")));
    }
    if (req.method() != http::verb::post) throw method_not_allowed(req, path);
    if (!accepting_) throw api_error(503, "draining", "the node is shutting down and takes no new runs");
    // Answered once the run is on disk; no I/O thread waits for the disk meanwhile.
    http_reply reply;
    auto asked = submission_of(body_json(req));
    auto wait = asked.wait_ms > 0 ? std::make_shared<pending_wait>() : nullptr;  // read only with wait_ms
    if (wait)  // a client that hangs up leaves no wait behind (the run goes on)
      reply.on_hangup = [&runs = runs_, wait] {
        std::lock_guard<std::mutex> lock(wait->mutex);
        wait->gone = true;
        if (wait->serial != 0) runs.withdraw_wait(wait->id, wait->serial);
      };
    reply.later = [&runs = runs_, asked = std::move(asked), wait](const reply_sink& sink) {
      try {
        runs.submit_async(asked, [&runs, sink, wait_ms = asked.wait_ms, wait](nlohmann::json doc, bool created) {
          answer_submitted(runs, sink, std::move(doc), created, wait_ms, wait);
        });
      } catch (const api_error& e) {
        sink(error_reply(e, false));
      }
    };
    return reply;
  }
  auto rest = path.substr(9);  // after "/v1/runs/"
  auto slash = rest.find('/');
  auto id = rest.substr(0, slash);
  auto action = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (!plain_name(id)) throw api_error(404, "unknown_run", "no run " + id, {{path, "route"}});
  if (action.empty()) {
    if (req.method() == http::verb::get) return json_reply(200, runs_.get(id));
    if (req.method() == http::verb::delete_) {
      runs_.forget(id);
      return text_reply(204, "");
    }
    throw method_not_allowed(req, path);
  }
  if (action == "cancel") {
    if (req.method() != http::verb::post) throw method_not_allowed(req, path);
    return json_reply(202, runs_.cancel(id));
  }
  if (action == "events") {
    if (req.method() != http::verb::get) throw method_not_allowed(req, path);
    int64_t after = 0;
    auto last = req.find("Last-Event-ID");
    std::string resume = last != req.end() ? std::string(last->value()) : query_value(query, "after");
    if (!resume.empty()) {
      if (resume.size() > 18 || resume.find_first_not_of("0123456789") != std::string::npos)
        throw api_error(400, "invalid_header", "Last-Event-ID must be an event's number", {{"header Last-Event-ID", resume}});
      after = std::stoll(resume);
    }
    runs_.check_known(id);  // 404 before the stream starts
    http_reply reply;
    reply.stream = [this, id, after](const std::shared_ptr<event_watcher>& w) {
      try {
        runs_.watch(id, after, w);
      } catch (const api_error&) {  // forgotten meanwhile
        w->end();
      }
    };
    return reply;
  }
  throw api_error(404, "not_found", "no route " + path, {{path, "route"}});
}

}  // namespace cohort::node
