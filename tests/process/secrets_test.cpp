// A server that echoes the API key (in a 401, a 500, an SSE error event) must not get
// it printed: every output channel of a real `cohort run` (stdout as text and as
// JSON, stderr with progress and debug logs, the events file) is searched for it.
// And what a server sends cannot drive the terminal: control characters are escaped.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/secret_mask.hpp"
#include "cli/terminal_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scripted_server.hpp"

using cohort::testing::child_process;
using cohort::testing::http_json_answer;
using cohort::testing::scripted_server;
using nlohmann::json;

namespace {

const std::string key = "sk-cohort-secret-4d9e2b7a1c";

struct channels {
  std::string out, err, events;
  int code = -1;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `cohort run` of one call to `server`, with the key in the environment.
channels run_against(const scripted_server& server, bool stream, bool as_json, const std::string& name) {
  json doc{{"models", {{"m", {{"provider", "openai"}, {"base_url", server.base_url()}, {"stream", stream},
                              {"api_key_env", "COHORT_SECRET_TEST_KEY"}}}}},
           {"agents", {{"a", {{"type", "llm"}, {"model", "m"}, {"prompt", "hi"}}}}},
           {"workflow", {{"agent", "a"}}}};
  auto base = ::testing::TempDir() + "/" + name + "-" + std::to_string(::getpid());  // this process's own
  auto scenario = base + ".json";
  auto events = base + ".events.jsonl";
  std::ofstream(scenario) << doc.dump();
  ::setenv("COHORT_SECRET_TEST_KEY", key.c_str(), 1);
  std::vector<std::string> argv{COHORT_BINARY, "--log-level", "debug", "run", scenario, "--events", events};
  if (as_json) argv.push_back("--json");
  child_process p(argv);
  ::unsetenv("COHORT_SECRET_TEST_KEY");
  channels c;
  c.out = p.read_all(20000);
  c.code = p.wait(5000);
  c.err = p.read_stderr(200);
  c.events = slurp(events);
  return c;
}

void expect_masked(const channels& c) {
  for (const auto* text : {&c.out, &c.err, &c.events}) {
    EXPECT_EQ(text->find(key), std::string::npos) << *text;
    EXPECT_EQ(text->find(key.substr(3, 14)), std::string::npos) << "not even a part of it: " << *text;
  }
  EXPECT_NE((c.out + c.events).find("***"), std::string::npos) << "the echoed key shows as masked:\n" << c.out;
}

}  // namespace

TEST(Secrets, AKeyEchoedInA401IsMaskedEverywhere) {
  scripted_server server({http_json_answer(401, "Unauthorized",
                                           R"({"error":{"message":"Incorrect API key provided: )" + key + R"("}})")});
  auto c = run_against(server, false, false, "echo401");
  EXPECT_EQ(c.code, 1) << c.err;
  expect_masked(c);
}

TEST(Secrets, AKeyEchoedInA500IsMaskedInJsonOutput) {
  scripted_server server({http_json_answer(500, "Internal Server Error",
                                           R"({"error":{"message":"upstream said: Authorization: Bearer )" + key +
                                               R"( rejected"}})")});
  auto c = run_against(server, false, true, "echo500");
  EXPECT_EQ(c.code, 1) << c.err;
  expect_masked(c);
  EXPECT_FALSE(json::parse(c.out, nullptr, false).is_discarded()) << c.out;
}

TEST(Secrets, AKeyEchoedInAnSseErrorEventIsMasked) {
  std::string body = R"(data: {"error":{"message":"bad key )" + key + "\"}}\n\n";
  scripted_server server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body});
  auto c = run_against(server, true, false, "echosse");
  EXPECT_EQ(c.code, 1) << c.err;
  expect_masked(c);
}

// Escape sequences from a server (clear the screen, set the window title) are shown,
// not obeyed: no raw ESC or BEL reaches the terminal.
TEST(Secrets, ControlCharactersFromAServerAreEscapedForTheTerminal) {
  scripted_server server({http_json_answer(500, "Internal Server Error", "oops \x1b]0;pwned\x07\x1b[2J")});
  auto c = run_against(server, false, false, "escapes");
  EXPECT_EQ(c.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(c.out.find('\x07'), std::string::npos);
  EXPECT_EQ(c.err.find('\x1b'), std::string::npos) << "progress and logs too";
  EXPECT_NE(c.out.find("\\x1b]0;pwned\\x07\\x1b[2J"), std::string::npos) << c.out;
}

TEST(SecretMask, MasksSecretsTheirJsonFormAndBearerTokens) {
  cohort::secret_mask mask({"sk-abcdef\"123", "short"});
  EXPECT_EQ(mask.apply("key sk-abcdef\"123 end"), "key *** end");
  EXPECT_EQ(mask.apply(R"({"m":"sk-abcdef\"123"})"), R"({"m":"***"})");
  EXPECT_EQ(mask.apply("short stays"), "short stays") << "too short to be a key";
  EXPECT_EQ(mask.apply("Authorization: bearer tok.en-9/x= and"), "Authorization: bearer *** and");
  EXPECT_EQ(cohort::secret_mask().apply("Bearer ***"), "Bearer ***");
}

TEST(TerminalText, EscapesControlCharactersButNotNewlinesOrTabs) {
  EXPECT_EQ(cohort::escape_control_chars("a\x1b[2J\tb\nc\x7f"), "a\\x1b[2J\tb\nc\\x7f");
}
