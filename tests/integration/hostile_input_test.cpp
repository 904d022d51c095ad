// Input cohort does not control (patterns, model answers, files, numbers) ends in a
// clear error that names its place, never in a crash, a hang or a wrapped number.
#include <unistd.h>

#include <fstream>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "messages/input_limits.hpp"
#include "messages/result.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::child_process;
using cohort::testing::load_problems;
using cohort::testing::test_options;
using nlohmann::json;

namespace {

// One sim model whose rules answer every prompt; one agent `writer` on it.
json one_agent(json rules, json agent_extra = json::object(), json workflow = {{"agent", "writer"}}) {
  json agent = {{"type", "llm"}, {"model", "sim"}, {"prompt", "{{input.text}}"}};
  agent.update(agent_extra);
  return {{"name", "hostile"},
          {"models", {{"sim", {{"provider", "sim"}, {"rules", std::move(rules)}}}}},
          {"agents", {{"writer", agent}}},
          {"workflow", std::move(workflow)},
          {"input", {{"text", "hello"}}}};
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string write_file(const std::string& name, const std::string& text) {
  auto path = ::testing::TempDir() + "/hostile-" + std::to_string(::getpid()) + "-" + name;  // this process's own
  std::ofstream(path) << text;
  return path;
}

struct cli_result {
  int code;
  std::string out, err;
};

cli_result cohort_cli(std::vector<std::string> args, int timeout_ms = 20000) {
  args.insert(args.begin(), COHORT_BINARY);
  child_process p(args);
  auto out = p.read_all(timeout_ms);
  return {p.wait(5000), out, p.read_stderr(200)};
}

}  // namespace

// std::regex recursed per character: a 20 KB answer checked by (a|b)*c killed the process.
TEST(HostileInput, AcceptRegexOnALongAnswerRunsInBoundedStack) {
  cohort::Runtime rt(test_options());
  std::string answer;
  for (int i = 0; i < 10000; ++i) answer += "ab";
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", answer + "c"}}}), json::object(),
                       {{"type", "race"}, {"agents", {"writer"}}, {"accept", {{"regex", "(a|b)*c"}}}});
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output.get<std::string>().size(), answer.size() + 1);

  doc["workflow"]["accept"]["regex"] = "(a|b)*d";  // no match: the runner is rejected, nothing crashes
  auto rejected = rt.run(rt.load(doc));
  EXPECT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error.find("does not match /(a|b)*d/"), std::string::npos) << rejected.error;
}

// A sim rule that repeats the prompt: what it makes is bounded like a template, and the
// model (one actor for every agent) answers the others as before.
TEST(HostileInput, ASimReplyBeyondTheRenderedLimitFailsThatCallOnly) {
  auto options = test_options();
  options.max_rendered_bytes = 1 << 20;
  cohort::Runtime rt(options);
  std::string twenty;
  for (int i = 0; i < 20; ++i) twenty += "{{prompt}}";
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", twenty}}}), json::object(),
                       {{"type", "fan_out"}, {"over", "input.texts"}, {"policy", "all_settled"},
                        {"do", {{"agent", "writer"}}}});
  doc["agents"]["writer"]["prompt"] = "{{item}}";
  doc["input"] = {{"texts", {std::string(100000, 'x'), "short"}}};
  auto r = rt.run(rt.load(doc));
  EXPECT_EQ(r.branches.failed, 1) << r.error;
  EXPECT_EQ(r.branches.succeeded, 1) << r.error;
  auto report = r.to_json().dump();
  EXPECT_NE(report.find("larger than 1048576 bytes (the limit, max_rendered_bytes)"), std::string::npos) << report;
}

TEST(HostileInput, SimRuleScansALongPromptInBoundedStack) {
  cohort::Runtime rt(test_options());
  auto doc = one_agent(json::array({{{"match", "^(a|b)*c$"}, {"reply", "matched {{1}}"}}}));
  std::string prompt;
  for (int i = 0; i < 50000; ++i) prompt += "ab";
  doc["input"]["text"] = prompt + "c";
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output, "matched b");
}

TEST(HostileInput, VoteNormaliseTakesTheFirstCaptureGroup) {
  cohort::Runtime rt(test_options());
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", "My answer: YES, surely"}}}), json::object(),
                       {{"type", "vote"}, {"agents", {"writer", "writer", "writer"}},
                        {"normalize", {{"regex", "answer:\\s*(yes|no)"}}}});
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.output["normalized"], "yes") << r.output.dump();

  // Alternatives in separate groups: the one that took part is the vote, not "".
  doc["workflow"]["normalize"]["regex"] = "answer:\\s*(no)|answer:\\s*(yes)";
  auto second = rt.run(rt.load(doc));
  ASSERT_TRUE(second.ok()) << second.error;
  EXPECT_EQ(second.output["normalized"], "yes") << second.output.dump();
}

TEST(HostileInput, PatternsRE2CannotRunAreRefusedAtLoadWithTheirPath) {
  cohort::Runtime rt(test_options());
  auto backref = one_agent(json::array({{{"match", "(a)\\1"}, {"reply", "x"}}}));
  auto text = load_problems(rt, backref);
  EXPECT_NE(text.find("$.models.sim.rules[0].match"), std::string::npos) << text;
  EXPECT_NE(text.find("no backreferences or lookaround"), std::string::npos) << text;

  auto lookahead = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}), json::object(),
                             {{"type", "race"}, {"agents", {"writer"}}, {"accept", {{"regex", "a(?=b)"}}}});
  text = load_problems(rt, lookahead);
  EXPECT_NE(text.find("$.workflow.accept.regex: bad regex"), std::string::npos) << text;

  auto huge = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}), json::object(),
                        {{"type", "vote"}, {"agents", {"writer"}}, {"normalize", {{"regex", std::string(100000, 'a')}}}});
  text = load_problems(rt, huge);
  EXPECT_NE(text.find("$.workflow.normalize.regex: bad regex: the pattern is 100000 bytes"), std::string::npos)
      << text.substr(0, 300);
}

TEST(HostileInput, ADeepJsonAnswerFailsItsAgentOnly) {
  cohort::Runtime rt(test_options());
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", nested(100000)}}}), {{"output", "json"}});
  auto r = rt.run(rt.load(doc));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_kind, "invalid_output") << r.error.substr(0, 300);

  auto fine = one_agent(json::array({{{"match", "."}, {"reply", nested(100)}}}), {{"output", "json"}});
  auto ok = rt.run(rt.load(fine));
  EXPECT_TRUE(ok.ok()) << ok.error;
}

TEST(HostileInput, DeepValuesFromAnEmbedderAreRefused) {
  cohort::Runtime rt(test_options());
  auto deep = json::array();
  for (int i = 0; i < 1000; ++i) deep = json::array({std::move(deep)});
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}));
  auto scenario = rt.load(doc);
  try {
    rt.start(scenario, json{{"text", deep}});
    FAIL() << "a 1000-deep input was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 256"), std::string::npos) << e.what();
  }
  doc["input"]["text"] = deep;
  EXPECT_NE(load_problems(rt, doc).find("nested deeper than 256"), std::string::npos);
}

TEST(HostileInput, JsonDepthIsCountedOutsideStringsOnly) {
  EXPECT_EQ(cohort::json_depth(R"({"a": [1, {"b": "[[[[{{{{"}]})", 100), 3u);
  EXPECT_EQ(cohort::json_depth(R"(["\"[[[", ["\\", [[]]]])", 100), 4u);
  EXPECT_EQ(cohort::json_depth(nested(1000), 10), 11u);  // stops once past the limit
  EXPECT_EQ(cohort::parse_untrusted_json_or_discarded(nested(300)).is_discarded(), true);
  EXPECT_EQ(cohort::parse_untrusted_json_or_discarded("1" + std::string(400, '0')).is_discarded(), true);
}

TEST(HostileInput, ATemplateThatExpandsToGigabytesEndsWithAClearError) {
  cohort::Runtime rt(test_options());
  std::string prompt;
  for (int i = 0; i < 200000; ++i) prompt += "{{input.text}}";
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}), {{"prompt", prompt}});
  doc["input"]["text"] = std::string(10000, 'x');  // 2 GB once rendered
  auto r = rt.run(rt.load(doc));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("larger than 16777216 bytes (the limit, max_rendered_bytes)"), std::string::npos) << r.error;
}

TEST(HostileInput, NumbersBeyondTheirRangeAreRefusedWithTheirPath) {
  cohort::Runtime rt(test_options());
  json doc = {{"name", "n"},
              {"models", {{"m", {{"provider", "openai"}, {"base_url", "http://127.0.0.1:9/v1"}, {"model", "x"},
                                 {"request_timeout_ms", 4294967296LL + 1000}}}}},
              {"agents", {{"a", {{"model", "m"}, {"prompt", "hi"}}}}},
              {"workflow", {{"agent", "a"}, {"timeout_ms", 1e12}}}};
  auto text = load_problems(rt, doc);
  EXPECT_NE(text.find("$.models.m.request_timeout_ms: the number 4294968296 is out of range"), std::string::npos) << text;
  EXPECT_NE(text.find("$.workflow.timeout_ms: the number"), std::string::npos) << text;

  auto index = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}), {{"prompt", "{{input.list.99999999999999999999}}"}});
  index["input"]["list"] = {1, 2};
  text = load_problems(rt, index);
  EXPECT_NE(text.find("$.agents.writer.prompt"), std::string::npos) << text;
  EXPECT_NE(text.find("out of range"), std::string::npos) << text;
}

TEST(HostileInput, TokenSumsSaturateInsteadOfWrapping) {
  cohort::run_stats a, b;
  a.prompt_tokens = b.prompt_tokens = std::numeric_limits<int64_t>::max() - 1;
  a.add(b);
  EXPECT_EQ(a.prompt_tokens, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(cohort::saturating_add(std::numeric_limits<int64_t>::max(), 1), std::numeric_limits<int64_t>::max());
}

// Nothing supervises the root, so its retry policy was silently ignored: the run driver applies it.
TEST(HostileInput, TheRootsRetryPolicyIsHonoured) {
  cohort::Runtime rt(test_options());
  auto doc = one_agent(json::array({{{"match", "."}, {"reply", "x"}}}), json::object(),
                       {{"agent", "writer"}, {"retry", {{"max_attempts", 3}, {"backoff_ms", 1}}}});
  doc["models"]["sim"]["failure_rate"] = 1.0;
  auto r = rt.run(rt.load(doc));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.summary.retries, 2);
  EXPECT_EQ(r.branches.failed, 1);  // one branch, one final state, after three attempts

  doc["models"]["sim"]["failure_rate"] = 0.0;
  auto ok = rt.run(rt.load(doc));
  EXPECT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.summary.retries, 0);
}

// Files and inputs without end (/dev/zero) are cut at the size limit, not read until killed.
TEST(HostileInputCli, EndlessFilesEndWithAClearError) {
  auto validate = cohort_cli({"validate", "/dev/zero"});
  EXPECT_EQ(validate.code, 2);
  EXPECT_NE(validate.err.find("/dev/zero"), std::string::npos) << validate.err;
  EXPECT_NE(validate.err.find("larger than 67108864 bytes"), std::string::npos) << validate.err;

  auto scenario = write_file("hostile.json", one_agent(json::array({{{"match", "."}, {"reply", "x"}}})).dump());
  auto input = cohort_cli({"run", scenario, "-q", "--input", "@/dev/zero"});
  EXPECT_EQ(input.code, 2);
  EXPECT_NE(input.err.find("larger than 67108864 bytes"), std::string::npos) << input.err;
}

TEST(HostileInputCli, DeepOrHugeNumbersInFilesNameTheFile) {
  auto scenario = write_file("hostile2.json", one_agent(json::array({{{"match", "."}, {"reply", "x"}}})).dump());
  auto deep_input = write_file("deep-input.json", "{\"text\": " + nested(100000) + "}");
  auto deep = cohort_cli({"run", scenario, "-q", "--input", "@" + deep_input});
  EXPECT_EQ(deep.code, 2);
  EXPECT_NE(deep.err.find(deep_input + ": JSON nested deeper than 256 levels"), std::string::npos) << deep.err;

  auto big_number = write_file("big-number.json", "{\"name\": \"x\", \"timeout_ms\": 1" + std::string(400, '0') + "}");
  auto number = cohort_cli({"validate", big_number});
  EXPECT_EQ(number.code, 2);
  EXPECT_NE(number.err.find(big_number), std::string::npos) << number.err;
  EXPECT_NE(number.err.find("not valid JSON: [json.exception.out_of_range.406] number overflow"), std::string::npos)
      << number.err;
}

TEST(HostileInputCli, BadSettingsAreRefused) {
  auto scenario = write_file("hostile3.json", one_agent(json::array({{{"match", "."}, {"reply", "x"}}})).dump());
  auto level = cohort_cli({"--log-level", "bogus", "run", scenario, "-q"});
  EXPECT_EQ(level.code, 2);
  EXPECT_NE(level.err.find("--log-level: log_level \"bogus\" is not one of"), std::string::npos) << level.err;

  auto config = write_file("threads.json", R"({"scheduler_threads": 100000})");
  auto threads = cohort_cli({"--config", config, "run", scenario, "-q"});
  EXPECT_EQ(threads.code, 2);
  EXPECT_NE(threads.err.find("\"scheduler_threads\" must be an integer from 0 to 256"), std::string::npos) << threads.err;

  auto zero = write_file("zero.json", R"({"run_timeout_ms": 0})");
  auto timeout = cohort_cli({"--config", zero, "run", scenario, "-q"});
  EXPECT_EQ(timeout.code, 2);
  EXPECT_NE(timeout.err.find("\"run_timeout_ms\" must be an integer from 1"), std::string::npos) << timeout.err;
}

// The scenario schema's resource-name pattern ran in valijson's std::regex, which
// crashed (SIGSEGV) on a 200 KB name; the loader checks names itself.
TEST(HostileInput, AHugeResourceNameIsAClearError) {
  cohort::Runtime rt(test_options());
  json doc = {{"resources", {{std::string(200000, 'a'), 1}, {"gpu:0", 1}}},
              {"agents", {{"x", {{"type", "tool"}, {"tool", "echo"}}}}},
              {"workflow", {{"agent", "x"}}}};
  auto problems = load_problems(rt, doc);
  EXPECT_NE(problems.find("\"gpu:0\" is not a resource name"), std::string::npos) << problems.substr(0, 500);
  doc["resources"].erase("gpu:0");
  EXPECT_EQ(load_problems(rt, doc), "");
}
