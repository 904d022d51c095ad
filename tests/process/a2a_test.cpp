// A2A both ways between two real `cohort serve` processes on 127.0.0.1: node A runs a
// scenario whose agent of "type": "a2a" calls a scenario node B serves as an A2A agent.
// The answer comes back as the agent's output; a cancel or a timeout on A cancels B's
// task; failures of the remote name it.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scripted_server.hpp"
#include "tests/support/test_runtime.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

class A2a : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = fresh_dir("a2a");
    std::filesystem::create_directories(dir + "/scenarios");
    std::ofstream(dir + "/scenarios/summarizer.json") << R"({"name": "summarizer", "description": "Summarises a text.",
      "models": {"m": {"provider": "sim", "latency_ms": 10}},
      "agents": {"a": {"model": "m", "prompt": "Summarise: {{input.text}}"}}, "workflow": {"agent": "a"}})";
    std::ofstream(dir + "/scenarios/slow.json")
        << R"({"name": "slow", "models": {"m": {"provider": "sim", "latency_ms": 10000}},
      "agents": {"a": {"model": "m", "prompt": "{{input.text}}"}}, "workflow": {"agent": "a"}})";
    // Several agents and a pattern: each start is an event of the run.
    std::ofstream(dir + "/scenarios/team.json") << R"({"name": "team",
      "models": {"m": {"provider": "sim", "latency_ms": 5}},
      "agents": {"a": {"model": "m", "prompt": "{{input.text}} {{item}}"}},
      "workflow": {"type": "fan_out", "over": "input.data.items", "agent": "a"},
      "input": {"text": "", "data": {"items": [1]}}})";
    std::ofstream(dir + "/scenarios/reader.json") << R"({"name": "reader",
      "models": {"m": {"provider": "sim", "latency_ms": 1}},
      "agents": {"a": {"model": "m", "prompt": "{{input.files.2.uri}} {{input.files.1.bytes}} {{input.files.0.name}} {{input.files.0.size}} {{input.files.0.mime_type}} {{input.files.0.text}}"}},
      "workflow": {"agent": "a"}})";
    // A streaming model behind the remote: its pieces travel as A2A artifact updates.
    std::ofstream(dir + "/scenarios/streamer.json")
        << json{{"name", "streamer"},
                {"models", {{"m", {{"provider", "openai"}, {"stream", true}, {"base_url", mock_.base_url()}}}}},
                {"agents", {{"a", {{"model", "m"}, {"prompt", "{{input.text}}"}}}}},
                {"workflow", {{"agent", "a"}}}};
    remote_ =
        std::make_unique<node_process>(dir + "/remote", std::vector<std::string>{"--scenarios", dir + "/scenarios"});
    local_ = std::make_unique<node_process>(dir + "/local");
  }

  json caller(const std::string& agent, int timeout_ms = 20000) {
    return {{"name", "caller"},
            {"agents",
             {{"remote",
               {{"type", "a2a"},
                {"url", remote_->url() + "/a2a/" + agent},
                {"prompt", "Tell me about {{input.topic}}"},
                {"poll_ms", 20},
                {"timeout_ms", timeout_ms}}}}},
            {"workflow", {{"agent", "remote"}}},
            {"input", {{"topic", "mailboxes"}}}};
  }

  // The remote's runs of scenario `name`, newest first.
  json remote_runs() { return json::parse(http_call(remote_->port(), "GET", "/v1/runs?limit=10").body)["runs"]; }

  // The remote's newest run once it has `status` (or after 5 s, as it is then).
  json wait_remote_status(const std::string& status) {
    json runs;
    for (int i = 0; i < 200; ++i) {
      runs = remote_runs();
      if (!runs.empty() && runs[0]["status"] == status) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return runs.empty() ? json::object() : runs[0];
  }

  mock_llm_process mock_;
  std::unique_ptr<node_process> remote_, local_;
};

TEST_F(A2a, ANodeCallsAnotherNodesAgent) {
  auto run = submit(local_->port(), {{"scenario", caller("summarizer")}})["id"].get<std::string>();
  auto done = wait_finished(local_->port(), run);
  ASSERT_EQ(done["status"], "succeeded") << done;
  auto output = done["output"].get<std::string>();
  EXPECT_NE(output.find("Summarise: Tell me about mailboxes"), std::string::npos) << output;
  auto theirs = remote_runs();
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0]["status"], "succeeded");
  auto their_run =
      json::parse(http_call(remote_->port(), "GET", "/v1/runs/" + theirs[0]["id"].get<std::string>()).body);
  EXPECT_EQ(their_run["output"], output) << "the remote task's output is the agent's";
}

// With "stream": message/stream; the remote model's pieces arrive as token events, and
// the output is the remote's whole answer.
TEST_F(A2a, AStreamingCallShowsTheRemotesPiecesAsTheyCome) {
  auto doc = caller("streamer");
  doc["agents"]["remote"]["stream"] = true;
  cohort::Runtime rt;
  std::mutex m;
  std::string pieces;
  int tokens = 0;
  auto r = rt.run(rt.load(doc), std::nullopt, [&](const cohort::Event& e) {
    if (e.kind != "token") return;
    std::lock_guard<std::mutex> lock(m);
    ++tokens;
    pieces += e.message;
  });
  ASSERT_EQ(r.status, "succeeded") << r.error;
  EXPECT_GT(tokens, 3) << "pieces, not one answer";
  EXPECT_EQ(pieces, r.output.get<std::string>());
  EXPECT_NE(pieces.find("Tell me about mailboxes"), std::string::npos) << pieces;
}

TEST_F(A2a, CancellingTheCallerCancelsTheRemoteTask) {
  auto run = submit(local_->port(), {{"scenario", caller("slow")}})["id"].get<std::string>();
  wait_remote_status("running");
  ASSERT_EQ(http_call(local_->port(), "POST", "/v1/runs/" + run + "/cancel").status, 202);
  EXPECT_EQ(wait_finished(local_->port(), run)["status"], "cancelled");
  EXPECT_EQ(wait_remote_status("cancelled")["status"], "cancelled") << remote_runs();
}

TEST_F(A2a, ATimedOutCallCancelsTheRemoteTask) {
  cohort::Runtime rt;
  auto r = rt.run(rt.load(caller("slow", 500)));
  EXPECT_EQ(r.status, "timed_out") << r.error;
  EXPECT_EQ(wait_remote_status("cancelled")["status"], "cancelled") << remote_runs();
}

TEST_F(A2a, RemoteFailuresNameTheAgent) {
  cohort::Runtime rt;
  auto r = rt.run(rt.load(caller("no-such-agent")));
  EXPECT_EQ(r.status, "failed");
  EXPECT_TRUE(has_text(r.error, "A2A agent " + remote_->url() + "/a2a/no-such-agent")) << r.error;
  EXPECT_TRUE(has_text(r.error, "HTTP 404")) << r.error;
  auto down = caller("summarizer");
  down["agents"]["remote"]["url"] = "http://127.0.0.1:1/a2a/x";
  auto refused = rt.run(rt.load(down));
  EXPECT_EQ(refused.status, "failed");
  EXPECT_TRUE(has_text(refused.error, "127.0.0.1:1")) << refused.error;
}

// What a client sends wrong gets JSON-RPC's and A2A's error codes, and the node goes on.
TEST_F(A2a, BadRequestsGetJsonRpcErrors) {
  auto rpc = [&](const std::string& body) {
    auto a = http_call(remote_->port(), "POST", "/a2a/summarizer", body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(a.status, 200) << a.body;
    return json::parse(a.body, nullptr, false);
  };
  auto code = [&](const std::string& body) { return rpc(body)["error"]["code"]; };
  EXPECT_EQ(code("{\"jsonrpc\": "), -32700);
  EXPECT_EQ(code(R"({"jsonrpc": "1.0", "id": 1, "method": "message/send"})"), -32600);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": {"x": 1}, "method": "message/send"})"), -32600);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "agents/dance"})"), -32601);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": []})"), -32602);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}})"), -32602);
  auto file = rpc(R"({"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {"kind": "message",
      "messageId": "m", "role": "user", "parts": [{"kind": "text", "text": "x"}, {"kind": "file", "file": {}}]}}})");
  EXPECT_EQ(file["error"]["code"], -32602);
  EXPECT_EQ(file["id"], 7);
  EXPECT_TRUE(has_text(file["error"]["message"].get<std::string>(), "params.message.parts[1].file")) << file;
  auto not_base64 = rpc(R"({"jsonrpc": "2.0", "id": 8, "method": "message/send", "params": {"message": {"kind": "message",
      "messageId": "m", "role": "user", "parts": [{"kind": "file", "file": {"bytes": "no*base64"}}]}}})");
  EXPECT_TRUE(has_text(not_base64["error"].value("message", ""), "params.message.parts[0].file.bytes")) << not_base64;
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": 5}})"), -32602);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "run-0-none"}})"), -32001);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "tasks/resubscribe", "params": {"id": "x"}})"), -32001);
  EXPECT_EQ(code(R"({"jsonrpc": "2.0", "id": 1, "method": "tasks/resubscribe", "params": {}})"), -32602);
  EXPECT_EQ(http_call(remote_->port(), "GET", "/a2a/nobody/.well-known/agent-card.json").status, 404);
  EXPECT_EQ(http_call(remote_->port(), "GET", "/a2a/summarizer").status, 405);
  // A task of another agent is not this one's.
  auto slow =
      rpc(R"({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"configuration": {"blocking": false},
      "message": {"kind": "message", "messageId": "m", "role": "user", "parts": [{"kind": "text", "text": "x"}]}}})");
  auto id = slow["result"]["id"].get<std::string>();
  auto other = http_call(remote_->port(), "POST", "/a2a/slow",
                         json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tasks/get"}, {"params", {{"id", id}}}}.dump());
  EXPECT_EQ(json::parse(other.body)["error"]["code"], -32001) << other.body;
  EXPECT_EQ(http_call(remote_->port(), "GET", "/healthz").status, 200);
}

// A message's file parts reach the run's input: UTF-8 bytes as text, other bytes as
// base64, a URI as given (the node never fetches it).
TEST_F(A2a, FilePartsAreTheRunsInput) {
  auto message = json{{"kind", "message"},
                      {"messageId", "m"},
                      {"role", "user"},
                      {"parts",
                       {{{"kind", "text"}, {"text", "two files"}},
                        {{"kind", "file"}, {"file", {{"name", "notes.txt"}, {"mimeType", "text/plain"},
                                                     {"bytes", "bWFpbGJveGVzIGFyZSBxdWV1ZXM="}}}},  // "mailboxes are queues"
                        {{"kind", "file"}, {"file", {{"name", "blob"}, {"bytes", "/w=="}}}},  // 0xff: not UTF-8
                        {{"kind", "file"}, {"file", {{"uri", "file:///etc/passwd"}}}}}}};
  auto answer = http_call(remote_->port(), "POST", "/a2a/reader",
                          json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "message/send"}, {"params", {{"message", message}}}}.dump());
  auto task = json::parse(answer.body, nullptr, false).value("result", json::object());
  ASSERT_EQ(task.value("/status/state"_json_pointer, ""), "completed") << answer.status << " " << answer.body;
  auto text = task.value("/artifacts/0/parts/0/text"_json_pointer, "");
  // (the sim model's answer quotes its prompt)
  EXPECT_TRUE(has_text(text, "\"file:///etc/passwd /w== notes.txt 20 text/plain mailboxes are queues\"")) << answer.body;
}

// The lines of an SSE stream's "data:" fields, as JSON.
std::vector<json> sse_data(const std::string& raw) {
  std::vector<json> out;
  size_t at = 0;
  while ((at = raw.find("data: ", at)) != std::string::npos) {
    auto end = raw.find('\n', at);
    out.push_back(json::parse(raw.substr(at + 6, end - at - 6), nullptr, false));
    at = end;
  }
  return out;
}

// tasks/resubscribe streams a task again: the task as it is, then its updates to the end,
// for a live task (cancelled meanwhile) and for one that has ended.
TEST_F(A2a, ResubscribingStreamsATasksUpdates) {
  auto send = json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "message/send"},
                   {"params", {{"configuration", {{"blocking", false}}},
                               {"message", {{"kind", "message"}, {"messageId", "m"}, {"role", "user"},
                                            {"parts", {{{"kind", "text"}, {"text", "wait"}}}}}}}}};
  auto id = json::parse(http_call(remote_->port(), "POST", "/a2a/slow", send.dump()).body)["result"]["id"].get<std::string>();
  auto resubscribe = json{{"jsonrpc", "2.0"}, {"id", "r"}, {"method", "tasks/resubscribe"}, {"params", {{"id", id}}}}.dump();
  std::string raw;
  std::thread watcher([&] { raw = http_post_stream(remote_->port(), "/a2a/slow", resubscribe, {}, 10000); });
  wait_remote_status("running");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto cancel = json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tasks/cancel"}, {"params", {{"id", id}}}};
  EXPECT_EQ(json::parse(http_call(remote_->port(), "POST", "/a2a/slow", cancel.dump()).body)["result"]["status"]["state"],
            "canceled");
  watcher.join();
  auto events = sse_data(raw);
  ASSERT_GE(events.size(), 2u) << raw;
  EXPECT_EQ(events.front()["id"], "r");
  EXPECT_EQ(events.front()["result"]["kind"], "task") << raw;
  EXPECT_EQ(events.front()["result"]["id"], id);
  EXPECT_EQ(events.back()["result"]["kind"], "status-update") << raw;
  EXPECT_EQ(events.back()["result"]["final"], true);
  EXPECT_EQ(events.back()["result"]["status"]["state"], "canceled") << raw;
  // Once ended: the task as it ended first, and the stream closes after the final update.
  auto again = sse_data(http_post_stream(remote_->port(), "/a2a/slow", resubscribe, {}, 10000));
  ASSERT_GE(again.size(), 2u);
  EXPECT_EQ(again.front()["result"]["status"]["state"], "canceled");
  EXPECT_EQ(again.back()["result"]["status"]["state"], "canceled");
  // Another agent's task is not found there.
  auto other = http_call(remote_->port(), "POST", "/a2a/summarizer", resubscribe);
  EXPECT_EQ(json::parse(other.body)["error"]["code"], -32001) << other.body;
}

// The requests a webhook received, once there are `n` (or after 5 s, as they are then).
std::vector<std::string> webhook_requests(const scripted_server& hook, size_t n) {
  std::vector<std::string> all;
  for (int i = 0; i < 200 && all.size() < n; ++i) {
    all.clear();
    for (const auto& c : hook.connections()) all.insert(all.end(), c.requests.begin(), c.requests.end());
    if (all.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return all;
}

json request_body(const std::string& request) {
  auto at = request.find("\r\n\r\n");
  return at == std::string::npos ? json() : json::parse(request.substr(at + 4), nullptr, false);
}

// Push notifications: a webhook given with message/send gets the task POSTed when it
// starts working and when it ends, with the client's token; a POST the webhook refuses is
// tried again.
TEST_F(A2a, PushNotificationsPostTheTaskToItsWebhook) {
  scripted_server hook({http_json_answer(503, "Busy", "{}"), http_json_answer(200, "OK", "{}")});
  auto url = "http://127.0.0.1:" + std::to_string(hook.port()) + "/hooks/a2a?who=me";
  auto send = json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "message/send"},
                   {"params", {{"configuration", {{"pushNotificationConfig", {{"url", url}, {"token", "tok-1"}}}}},
                               {"message", {{"kind", "message"}, {"messageId", "m"}, {"role", "user"},
                                            {"parts", {{{"kind", "text"}, {"text", "webhooks"}}}}}}}}};
  auto task = json::parse(http_call(remote_->port(), "POST", "/a2a/summarizer", send.dump()).body)["result"];
  ASSERT_EQ(task["status"]["state"], "completed") << task;
  auto got = webhook_requests(hook, 3);
  ASSERT_EQ(got.size(), 3u) << "working (refused once, then again), completed";
  for (const auto& r : got) {
    EXPECT_EQ(r.rfind("POST /hooks/a2a?who=me HTTP/1.1\r\n", 0), 0u) << r;
    EXPECT_TRUE(has_text(r, "X-A2A-Notification-Token: tok-1\r\n")) << r;
    EXPECT_EQ(request_body(r)["id"], task["id"]) << r;
  }
  EXPECT_EQ(request_body(got[0])["status"]["state"], "working");
  EXPECT_EQ(request_body(got[1])["status"]["state"], "working") << "the refused one again";
  auto last = request_body(got[2]);
  EXPECT_EQ(last["status"]["state"], "completed");
  EXPECT_EQ(last["artifacts"], task["artifacts"]) << last;
}

// A run of many agents is still one task: one "working", then the end.
TEST_F(A2a, ATaskOfManyAgentsIsWorkingOnce) {
  scripted_server hook({http_json_answer(200, "OK", "{}")});
  auto url = "http://127.0.0.1:" + std::to_string(hook.port()) + "/hook";
  auto send = json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "message/send"},
                   {"params", {{"configuration", {{"pushNotificationConfig", {{"url", url}}}}},
                               {"message", {{"kind", "message"}, {"messageId", "m"}, {"role", "user"},
                                            {"parts", {{{"kind", "text"}, {"text", "team"}},
                                                       {{"kind", "data"}, {"data", {{"items", {1, 2, 3, 4, 5}}}}}}}}}}}};
  auto answer = http_call(remote_->port(), "POST", "/a2a/team", send.dump());
  auto task = json::parse(answer.body, nullptr, false).value("result", json::object());
  ASSERT_EQ(task.value("/status/state"_json_pointer, ""), "completed") << answer.body;
  auto got = webhook_requests(hook, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // any more would have come by now
  got = webhook_requests(hook, 2);
  ASSERT_EQ(got.size(), 2u) << "working, completed";
  EXPECT_EQ(request_body(got[0])["status"]["state"], "working");
  EXPECT_EQ(request_body(got[1])["status"]["state"], "completed");
}

// The configs of a task are set, read, listed and deleted over JSON-RPC; one set on a
// running task tells its end (here: cancelled); a bad one is -32602 naming the field.
TEST_F(A2a, PushNotificationConfigsAreKeptPerTask) {
  scripted_server hook({http_json_answer(200, "OK", "{}")});
  auto url = "http://127.0.0.1:" + std::to_string(hook.port()) + "/hook";
  auto rpc = [&](const std::string& method, const json& params) {
    auto a = http_call(remote_->port(), "POST", "/a2a/slow",
                       json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}}.dump());
    return json::parse(a.body, nullptr, false);
  };
  auto id = rpc("message/send", {{"configuration", {{"blocking", false}}},
                                 {"message", {{"kind", "message"}, {"messageId", "m"}, {"role", "user"},
                                              {"parts", {{{"kind", "text"}, {"text", "wait"}}}}}}})["result"]["id"];
  auto config = json{{"id", "mine"}, {"url", url},
                     {"authentication", {{"schemes", {"Bearer"}}, {"credentials", "secret-cred"}}}};
  auto set = rpc("tasks/pushNotificationConfig/set", {{"taskId", id}, {"pushNotificationConfig", config}});
  EXPECT_EQ(set["result"]["taskId"], id) << set;
  EXPECT_EQ(set["result"]["pushNotificationConfig"]["url"], url) << set;
  EXPECT_FALSE(set["result"]["pushNotificationConfig"]["authentication"].contains("credentials")) << "not echoed";
  auto got = rpc("tasks/pushNotificationConfig/get", {{"id", id}, {"pushNotificationConfigId", "mine"}});
  EXPECT_EQ(got["result"], set["result"]) << got;
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/list", {{"id", id}})["result"].size(), 1u);
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/get", {{"id", id}})["error"]["code"], -32602) << "no config of the task's id";
  EXPECT_EQ(rpc("tasks/cancel", {{"id", id}})["result"]["status"]["state"], "canceled");
  auto posts = webhook_requests(hook, 2);
  ASSERT_GE(posts.size(), 2u);
  EXPECT_EQ(request_body(posts.back())["status"]["state"], "canceled") << posts.back();
  EXPECT_TRUE(has_text(posts.back(), "Authorization: Bearer secret-cred\r\n"));
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/delete", {{"id", id}, {"pushNotificationConfigId", "mine"}})["result"],
            nullptr);
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/list", {{"id", id}})["result"].size(), 0u);
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/delete", {{"id", id}, {"pushNotificationConfigId", "mine"}})["error"]["code"],
            -32602);
  auto bad = [&](const json& c) {
    auto e = rpc("tasks/pushNotificationConfig/set", {{"taskId", id}, {"pushNotificationConfig", c}})["error"];
    EXPECT_EQ(e["code"], -32602) << c;
    return e.value("message", "");
  };
  EXPECT_TRUE(has_text(bad({{"url", "ftp://127.0.0.1/x"}}), "params.pushNotificationConfig.url")) << "not http";
  EXPECT_TRUE(has_text(bad({{"url", "http://127.0.0.1:/x"}}), "params.pushNotificationConfig.url")) << "no port";
  EXPECT_TRUE(has_text(bad({{"url", "http://127.0.0.1:99999999999/x"}}), "params.pushNotificationConfig.url"));
  EXPECT_TRUE(has_text(bad({{"url", url}, {"token", "a\r\nX-Evil: 1"}}), "params.pushNotificationConfig.token"));
  EXPECT_TRUE(has_text(bad(json::array()), "params.pushNotificationConfig"));
  EXPECT_EQ(rpc("tasks/pushNotificationConfig/set", {{"taskId", "run-0-none"}, {"pushNotificationConfig", config}})
                ["error"]["code"],
            -32001);
}

TEST(A2aScenario, BadAgentsAreLoadErrors) {
  cohort::Runtime rt;
  auto text = load_problems(rt, {{"agents", {{"r", {{"type", "a2a"}, {"url", "ftp://x"}, {"prompt", "p"}}}}},
                                 {"workflow", {{"agent", "r"}}}});
  EXPECT_TRUE(has_text(text, "$.agents.r.url: not an http or https URL")) << text;
  text = load_problems(rt, {{"agents", {{"r", {{"type", "a2a"}, {"prompt", "p"}}}}}, {"workflow", {{"agent", "r"}}}});
  EXPECT_TRUE(has_text(text, "url")) << text;
}

TEST(A2aScenario, ASubmittedScenarioMayNotReadTheNodesSecrets) {
  node_process node(fresh_dir("a2a-secret"));
  json doc = {
      {"agents",
       {{"r", {{"type", "a2a"}, {"url", "http://127.0.0.1:9/a2a/x"}, {"prompt", "p"}, {"api_key_env", "HOME"}}}}},
      {"workflow", {{"agent", "r"}}}};
  auto refused = http_call(node.port(), "POST", "/v1/runs", json{{"scenario", doc}}.dump());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_TRUE(has_text(refused.body, "$.agents.r.api_key_env")) << refused.body;
}

}  // namespace
}  // namespace cohort::testing
