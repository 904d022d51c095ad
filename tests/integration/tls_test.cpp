// TLS and extra headers against a real `cohort mock-llm --tls` process, with
// certificates made by the `openssl` command for each test: a trusted CA file works,
// no CA file is a clear verification error (not retried), a certificate for another
// name fails hostname checking, and "tls_verify": false skips the checks.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <set>

#include <gtest/gtest.h>

#include "cohort/runtime.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_runtime.hpp"

using cohort::testing::child_process;
using cohort::testing::load_problems;
using cohort::testing::mock_llm_process;
using nlohmann::json;

namespace {

// A self-signed certificate and key in a fresh temporary directory, removed afterwards.
class self_signed_cert {
 public:
  explicit self_signed_cert(const std::string& subject_alt_names) {
    char pattern[] = "/tmp/cohort-tls-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    child_process openssl({"/usr/bin/env", "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", key(), "-out", cert(), "-days", "2", "-subj", "/CN=cohort-test",
                           "-addext", "subjectAltName=" + subject_alt_names});
    auto code = openssl.wait(20000);
    if (code != 0)
      throw std::runtime_error("openssl req failed (exit " + std::to_string(code) + "): " + openssl.read_stderr(500));
  }
  ~self_signed_cert() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string cert() const { return dir_ + "/cert.pem"; }
  std::string key() const { return dir_ + "/key.pem"; }

 private:
  std::string dir_;
};

json tls_scenario(const json& model) {
  return {{"name", "tls"},
          {"models", {{"m", model}}},
          {"agents", {{"a", {{"model", "m"}, {"prompt", "say hello to {{input.who}}"}}}}},
          {"workflow", {{"agent", "a"}, {"retry", {{"max_attempts", 3}, {"backoff_ms", 1}}}}},
          {"input", {{"who", "TLS"}}}};
}

std::string https_url(int port) { return "https://127.0.0.1:" + std::to_string(port) + "/v1"; }

}  // namespace

TEST(Tls, TrustedCaFileWorksAndUntrustedCertificateIsAClearError) {
  self_signed_cert cert("DNS:localhost,IP:127.0.0.1");
  mock_llm_process mock({"--tls", "--cert", cert.cert(), "--key", cert.key()});
  cohort::Runtime rt;

  // The same answer as over plain http from the same simulated model.
  mock_llm_process plain;
  auto expected = rt.run(rt.load(tls_scenario({{"provider", "openai"}, {"base_url", plain.base_url()}})));
  ASSERT_TRUE(expected.ok()) << expected.error;

  auto trusted = rt.run(rt.load(tls_scenario({{"provider", "openai"}, {"base_url", https_url(mock.port())},
                                          {"ca_file", cert.cert()}})));
  ASSERT_TRUE(trusted.ok()) << trusted.error_kind << ": " << trusted.error;
  EXPECT_EQ(trusted.output, expected.output);

  // By host name too (SNI and a DNS name in the certificate).
  auto by_name = rt.run(rt.load(tls_scenario({{"provider", "openai"},
                                          {"base_url", "https://localhost:" + std::to_string(mock.port()) + "/v1"},
                                          {"ca_file", cert.cert()}})));
  EXPECT_TRUE(by_name.ok()) << by_name.error_kind << ": " << by_name.error;

  // Not in the system store: verification fails, says so, names the URL, and the
  // retry policy (timeout, rate_limited, server_error, connection) does not retry it.
  auto untrusted = rt.run(rt.load(tls_scenario({{"provider", "openai"}, {"base_url", https_url(mock.port())}})));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error_kind, "tls_verify") << untrusted.error;
  EXPECT_NE(untrusted.error.find("could not be verified"), std::string::npos) << untrusted.error;
  EXPECT_NE(untrusted.error.find("self-signed certificate"), std::string::npos) << untrusted.error;
  EXPECT_NE(untrusted.error.find(https_url(mock.port())), std::string::npos) << untrusted.error;
  EXPECT_EQ(untrusted.summary.retries, 0);
}

TEST(Tls, CertificateForAnotherNameFailsHostnameChecking) {
  self_signed_cert cert("DNS:model.example.org");
  mock_llm_process mock({"--tls", "--cert", cert.cert(), "--key", cert.key()});
  cohort::Runtime rt;
  auto r = rt.run(rt.load(tls_scenario({{"provider", "openai"}, {"base_url", https_url(mock.port())},
                                    {"ca_file", cert.cert()}})));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error_kind, "tls_verify") << r.error;
  EXPECT_NE(r.error.find("mismatch"), std::string::npos) << r.error;

  // The unsafe escape hatch: no checks at all.
  auto unchecked = rt.run(rt.load(tls_scenario({{"provider", "openai"}, {"base_url", https_url(mock.port())},
                                            {"tls_verify", false}})));
  EXPECT_TRUE(unchecked.ok()) << unchecked.error_kind << ": " << unchecked.error;
}

TEST(Tls, ScenarioErrorsNameTheirPath) {
  cohort::Runtime rt;
  auto problems = [&](const json& model) { return load_problems(rt, tls_scenario(model)); };
  auto text = problems({{"provider", "openai"}, {"base_url", "https://127.0.0.1:1/v1"}, {"ca_file", "/nonexistent/ca.pem"}});
  EXPECT_NE(text.find("$.models.m.ca_file: cannot read \"/nonexistent/ca.pem\""), std::string::npos) << text;
  text = problems({{"provider", "openai"}, {"base_url", "http://127.0.0.1:1/v1"}, {"headers", {{"Bad Name", "x"}}}});
  EXPECT_NE(text.find("$.models.m.headers.Bad Name: not a valid HTTP header name"), std::string::npos) << text;
  text = problems({{"provider", "openai"},
                   {"endpoints", {{{"base_url", "http://127.0.0.1:1/v1"}, {"headers", {{"content-length", "5"}}}}}}});
  EXPECT_NE(text.find("$.models.m.endpoints[0].headers.content-length: cohort sets content-length itself"),
            std::string::npos)
      << text;
  text = problems({{"provider", "openai"}, {"base_url", "http://127.0.0.1:1/v1"}, {"api_key_env", "KEY"},
                   {"headers", {{"Authorization", "Bearer x"}}}});
  EXPECT_NE(text.find("$.models.m.headers.Authorization: give the key either here or by api_key_env"),
            std::string::npos)
      << text;
}

// Extra headers: the model's go to every endpoint, an endpoint's own are added and win
// (header names compare without case).
TEST(ExtraHeaders, ReachTheServer) {
  mock_llm_process a, b;
  cohort::Runtime rt;
  json model{{"provider", "openai"},
             {"headers", {{"X-Team", "red"}, {"X-Trace", "all"}}},
             {"endpoints", {{{"base_url", a.base_url()}},
                            {{"base_url", b.base_url()}, {"headers", {{"x-team", "blue"}}}}}}};  // names: any case
  auto doc = tls_scenario(model);
  doc["agents"]["a"]["prompt"] = "call {{item}}";
  doc["workflow"] = {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}};
  doc["input"] = {{"xs", {1, 2, 3, 4, 5, 6}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  auto sa = cohort::testing::mock_stats(a.port()), sb = cohort::testing::mock_stats(b.port());
  ASSERT_GT(sa["requests"].get<int>(), 0) << sa.dump();
  ASSERT_GT(sb["requests"].get<int>(), 0) << sb.dump();
  auto configured = [](const json& headers) {  // without the X-Workflow-Id and X-Agent-Id every call carries
    json kept = json::object();
    for (auto& [line, n] : headers.items())
      if (line.rfind("X-Workflow-Id:", 0) != 0 && line.rfind("X-Agent-Id:", 0) != 0) kept[line] = n;
    return kept;
  };
  EXPECT_EQ(configured(sa["extra_headers"]), json({{"X-Team: red", sa["requests"]}, {"X-Trace: all", sa["requests"]}}));
  EXPECT_EQ(configured(sb["extra_headers"]), json({{"x-team: blue", sb["requests"]}, {"X-Trace: all", sb["requests"]}}));
}

// Every call says who asks: X-Workflow-Id (the run) and X-Agent-Id (the branch's node
// path), so a router in front of vLLM can keep a workflow on one server. A name with a
// control character in it cannot break the header: the character is left out.
TEST(CallerHeaders, NameTheRunAndTheBranch) {
  mock_llm_process mock;
  cohort::Runtime rt;
  auto doc = tls_scenario({{"provider", "openai"}, {"base_url", mock.base_url()}});
  doc["name"] = "bell\aname";
  doc["agents"]["a"]["prompt"] = "call {{item}}";
  doc["workflow"] = {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}};
  doc["input"] = {{"xs", {1, 2, 3}}};
  auto r = rt.run(rt.load(doc));
  ASSERT_TRUE(r.ok()) << r.error;
  auto headers = cohort::testing::mock_stats(mock.port())["extra_headers"];
  std::set<std::string> workflows, agents;
  for (auto& [line, n] : headers.items()) {
    if (line.rfind("X-Workflow-Id: ", 0) == 0) {
      workflows.insert(line.substr(15));
      EXPECT_EQ(n, 3) << line;
    }
    if (line.rfind("X-Agent-Id: ", 0) == 0) {
      agents.insert(line.substr(12));
      EXPECT_EQ(n, 1) << line;
    }
  }
  ASSERT_EQ(workflows.size(), 1u) << headers;
  EXPECT_EQ(workflows.begin()->rfind("bellname-", 0), 0u) << headers;
  EXPECT_EQ(agents.size(), 3u) << "one path a branch: " << headers;
}

// An endpoint whose TLS context cannot be made (a CA file that holds no certificate)
// fails each call at once, before any I/O; in a pool those calls go to the healthy
// endpoint, and the pool's counters show where each went.
TEST(Tls, APooledEndpointWithoutAUsableCaFileFailsOverToAHealthyOne) {
  char pattern[] = "/tmp/cohort-tls-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  std::string dir = pattern, bad_ca = dir + "/not-a-certificate.pem";
  { std::ofstream(bad_ca) << "this is not a certificate\n"; }
  mock_llm_process plain;
  cohort::Runtime rt;
  json model{{"provider", "openai"},
             {"endpoints", {{{"base_url", "https://127.0.0.1:1/v1"}, {"ca_file", bad_ca}},
                            {{"base_url", plain.base_url()}}}}};
  auto doc = tls_scenario(model);
  doc["agents"]["a"]["prompt"] = "call {{item}}";
  doc["workflow"] = {{"type", "fan_out"}, {"over", "input.xs"}, {"agent", "a"}};
  doc["input"] = {{"xs", {1, 2, 3, 4, 5, 6}}};
  auto r = rt.run(rt.load(doc));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.error_kind << ": " << r.error;
  EXPECT_EQ(r.output.size(), 6u);
  auto stats = rt.model_pool_stats().at(0)["endpoints"];
  EXPECT_GE(stats[0]["requests"].get<int>(), 1) << stats.dump();
  EXPECT_EQ(stats[0]["succeeded"], 0) << stats.dump();
  EXPECT_EQ(stats[0]["failovers"], stats[0]["requests"]) << stats.dump();
  EXPECT_EQ(stats[1]["succeeded"], 6) << stats.dump();
  EXPECT_EQ(cohort::testing::mock_stats(plain.port())["requests"], 6);
}
