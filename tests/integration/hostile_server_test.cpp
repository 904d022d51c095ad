// cohort's HTTP client against a scripted server on 127.0.0.1 that sends exactly the
// bytes a test gives: interim (1xx) answers before the real one, endless ones, and
// what the server sees of cohort (its requests, and how each connection ended).
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agents/mcp_http_client.hpp"
#include "cohort/runtime.hpp"
#include "tests/support/scripted_server.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::chat_answer_json;
using cohort::testing::http_json_answer;
using cohort::testing::load_problems;
using cohort::testing::scripted_server;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

json one_call(const std::string& base_url, bool stream = false) {
  return {{"models", {{"m", {{"provider", "openai"}, {"base_url", base_url}, {"stream", stream},
                             {"request_timeout_ms", 5000}}}}},
          {"agents", {{"a", {{"type", "llm"}, {"model", "m"}, {"prompt", "hi"}}}}},
          {"workflow", {{"agent", "a"}}}};
}

// One streaming a2a agent at the root, talking to `server`.
json a2a_stream_call(const scripted_server& server, int timeout_ms) {
  return {{"name", "a2a-stream"},
          {"agents",
           {{"remote",
             {{"type", "a2a"},
              {"url", "http://127.0.0.1:" + std::to_string(server.port()) + "/a2a/x"},
              {"prompt", "hello"},
              {"stream", true},
              {"timeout_ms", timeout_ms}}}}},
          {"workflow", {{"agent", "remote"}}}};
}

const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
const std::string early_hints_103 = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";

std::string sse_answer(const std::string& text) {
  std::string body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text +
                     "\"}}]}\n\ndata: [DONE]\n\n";
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace

// RFC 9110: a client skips interim answers before the final one.
TEST(HostileServer, InterimAnswersBeforeTheRealOneAreSkipped) {
  scripted_server server({continue_100 + early_hints_103 + http_json_answer(200, "OK", chat_answer_json("hello"))});
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(one_call(server.base_url())));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "hello");
}

TEST(HostileServer, InterimAnswersBeforeAStreamAreSkipped) {
  scripted_server server({early_hints_103 + continue_100 + sse_answer("streamed")});
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(one_call(server.base_url(), true)));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "streamed");
}

TEST(HostileServer, EndlessInterimAnswersAreAMalformedResponse) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += continue_100;
  scripted_server server({many + http_json_answer(200, "OK", chat_answer_json("never read"))});
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(one_call(server.base_url())));
  EXPECT_EQ(r.error_kind, "malformed_response") << r.error;
  EXPECT_NE(r.error.find("more than 32 interim (1xx) responses"), std::string::npos) << r.error;
}

// Idle keep-alive connections end with a FIN when the runtime shuts down: a real
// server (nginx, vLLM) would log a reset for each one closed abortively.
TEST(HostileServer, IdleConnectionsCloseGracefullyAtShutdown) {
  scripted_server server({http_json_answer(200, "OK", chat_answer_json("x"))});
  {
    cohort::Runtime rt(test_options());
    auto doc = one_call(server.base_url());
    doc["workflow"] = {{"type", "fan_out"}, {"over", "input"}, {"agent", "a"}};
    doc["input"] = json::array({1, 2, 3});
    auto r = rt.run(rt.load(doc));
    ASSERT_TRUE(r.ok()) << r.error;
  }
  ASSERT_TRUE(server.wait_all_ended(5000));
  auto connections = server.connections();
  ASSERT_FALSE(connections.empty());
  for (const auto& c : connections) EXPECT_EQ(c.end, scripted_server::ending::fin);
}

// A withdrawn call still resets its connection: the server learns at once.
TEST(HostileServer, ACancelledCallResetsItsConnection) {
  scripted_server server({""});  // never answers
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(one_call(server.base_url())));
  for (int i = 0; i < 100 && (server.connections().empty() || server.connections()[0].requests.empty()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  run.cancel("stop");
  auto r = run.wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "cancelled");
  ASSERT_TRUE(server.wait_all_ended(5000));
  auto connections = server.connections();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].end, scripted_server::ending::reset);
}

// CR/LF in a key from the environment became extra request headers.
TEST(HostileServer, AKeyWithALineBreakIsNeverSent) {
  scripted_server server({http_json_answer(200, "OK", chat_answer_json("x"))});
  ::setenv("COHORT_TEST_INJECTED_KEY", "sk-abc\r\nX-Injected: yes", 1);
  cohort::Runtime rt(test_options());
  auto doc = one_call(server.base_url());
  doc["models"]["m"]["api_key_env"] = "COHORT_TEST_INJECTED_KEY";
  auto r = rt.run(rt.load(doc));
  ::unsetenv("COHORT_TEST_INJECTED_KEY");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_kind, "invalid_input");
  EXPECT_NE(r.error.find("$COHORT_TEST_INJECTED_KEY contains a control character"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("sk-abc"), std::string::npos) << "the key itself is never printed: " << r.error;
  for (const auto& c : server.connections()) EXPECT_TRUE(c.requests.empty()) << c.requests[0];
}

TEST(HostileServer, ControlCharactersInConfiguredHeadersAreRefusedAtLoad) {
  cohort::Runtime rt(test_options());
  auto doc = one_call("http://127.0.0.1:9/v1");
  doc["models"]["m"]["headers"] = {{"X-Team", "a\x1b[2Jb"}};
  auto text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.models.m.headers.X-Team"), std::string::npos) << text;
  EXPECT_NE(text.find("must not contain control characters"), std::string::npos) << text;
}

// An A2A server that refuses message/stream answers with one plain JSON-RPC error, not
// an event stream: the a2a agent reports that error (its text and code), not "the stream
// ended without a task".
TEST(HostileServer, AJsonRpcErrorAnsweredToAnA2aStreamIsTheAgentsError) {
  scripted_server remote({http_json_answer(
      200, "OK", R"({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "the node is full"}})")});
  cohort::Runtime rt(test_options());
  auto r = rt.run(rt.load(a2a_stream_call(remote, 5000)));
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_kind, "remote_error") << r.error;
  EXPECT_NE(r.error.find("the node is full (code -32603)"), std::string::npos) << r.error;
  auto seen = remote.connections();
  ASSERT_FALSE(seen.empty());
  ASSERT_FALSE(seen[0].requests.empty());
  EXPECT_NE(seen[0].requests[0].find("\"method\":\"message/stream\""), std::string::npos) << seen[0].requests[0];
}

// A streaming a2a agent cancelled before the remote's first event (which names the task)
// cancels the task when that event comes, and cuts the stream. Before, it ignored the
// events once cancelled: the remote task ran on to its end, and the connection with it.
TEST(HostileServer, AStreamingA2aAgentCancelledBeforeTheTaskIsKnownCancelsItLater) {
  scripted_server remote(
      {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + scripted_server::pause(400) +
           "data: {\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": {\"kind\": \"task\", \"id\": \"t-42\", "
           "\"status\": {\"state\": \"working\"}}}\n\n" +
           scripted_server::pause(20000),
       http_json_answer(200, "OK",
                        R"({"jsonrpc": "2.0", "id": 2, "result": {"kind": "task", "id": "t-42", "status": {"state": "canceled"}}})")});
  cohort::Runtime rt(test_options());
  auto run = rt.start(rt.load(a2a_stream_call(remote, 30000)));
  for (int i = 0; i < 200 && remote.connections().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(remote.connections().empty()) << "the agent did not call";
  run.cancel("test says stop");
  auto r = run.wait_for(std::chrono::seconds(3));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, "cancelled") << r->error;
  std::string cancel_request;
  for (int i = 0; i < 600 && cancel_request.empty(); ++i) {
    auto seen = remote.connections();
    if (seen.size() > 1 && !seen[1].requests.empty()) cancel_request = seen[1].requests[0];
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(cancel_request.find("\"method\":\"tasks/cancel\""), std::string::npos) << cancel_request;
  EXPECT_NE(cancel_request.find("t-42"), std::string::npos) << cancel_request;
  EXPECT_TRUE(remote.wait_all_ended(3000)) << "the stream was not cut";
}

// An MCP server over HTTP that floods requests on the event stream of its answer and
// never answers our refusals: at most 4 refusals are on their way at once (not one
// connection each of the 200; 64 more wait their turn, the rest are dropped), and the call
// still gets its answer.
TEST(HostileServer, AnMcpServerFloodingRequestsGetsFewRefusals) {
  std::string events;
  for (int i = 0; i < 200; ++i)
    events += "data: " +
              json{{"jsonrpc", "2.0"}, {"id", 1000 + i}, {"method", "sampling/createMessage"}, {"params", json::object()}}
                  .dump() +
              "\n\n";
  events += "data: " +
            json{{"jsonrpc", "2.0"}, {"id", 2}, {"result", {{"content", {{{"type", "text"}, {"text", "done"}}}}}}}.dump() +
            "\n\n";
  auto init = json{{"jsonrpc", "2.0"}, {"id", 1},
                   {"result", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                               {"serverInfo", {{"name", "flood"}, {"version", "1"}}}}}};
  scripted_server server({http_json_answer(200, "OK", init.dump(), "Mcp-Session-Id: s1\r\n"),
                          "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " +
                              std::to_string(events.size()) + "\r\n\r\n" + events,
                          ""});  // then silence: our refusals are never answered
  cohort::mcp_server_def def;
  def.name = "flood";
  def.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/mcp";
  def.timeout_ms = 5000;
  {
    cohort::mcp_http_client client(def);
    EXPECT_EQ(client.call_tool("anything", json::object()), json({{"content", {{{"type", "text"}, {"text", "done"}}}}}));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // any refusal still to come
  }
  int refusals = 0;
  for (const auto& c : server.connections())
    for (const auto& r : c.requests) refusals += r.find("offers no methods") != std::string::npos;
  EXPECT_GE(refusals, 1);
  EXPECT_LE(refusals, 4) << "refusals sent for the 200 requests";
}
