#include "mock_llm/server_state.hpp"

#include <stdexcept>

namespace cohort::mock_llm {

const char* fault_name(fault f) {
  switch (f) {
    case fault::rate_limit: return "429";
    case fault::server_error: return "500";
    case fault::malformed: return "malformed";
    case fault::hang: return "hang";
    case fault::drop: return "drop";
    case fault::none: break;
  }
  return "none";
}

std::optional<fault> parse_fault(std::string_view name) {
  if (name == "none") return fault::none;
  for (auto f : all_faults)
    if (name == fault_name(f)) return f;
  return std::nullopt;
}

std::string known_faults_text() { return "429, 500, malformed, hang, drop or none"; }

void validate(const mock_llm_options& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("mock-llm: " + what); };
  if (o.threads < 1) fail("threads must be at least 1, got " + std::to_string(o.threads));
  if (o.latency_min_ms < 0 || o.latency_max_ms < o.latency_min_ms)
    fail("latency needs 0 <= min <= max, got " + std::to_string(o.latency_min_ms) + "-" +
         std::to_string(o.latency_max_ms));
  if (!(o.fault_rate >= 0.0 && o.fault_rate <= 1.0))
    fail("fault_rate must be within [0, 1], got " + std::to_string(o.fault_rate));
  if (o.retry_after_s < 0) fail("retry_after_s must not be negative");
  if (o.idle_timeout_ms < 1) fail("idle_timeout_ms must be at least 1, got " + std::to_string(o.idle_timeout_ms));
  if (o.header_timeout_ms < 1)
    fail("header_timeout_ms must be at least 1, got " + std::to_string(o.header_timeout_ms));
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) fail("TLS needs both a certificate and its private key");
  if (o.fail_first < 0) fail("fail_first must not be negative");
  if (auto f = parse_fault(o.fail_first_with); !f || *f == fault::none)
    fail("unknown fault \"" + o.fail_first_with + "\" for fail_first (expected 429, 500, malformed, hang or drop)");
  for (const auto& name : o.faults) {
    auto f = parse_fault(name);
    if (!f || *f == fault::none)
      fail("unknown fault \"" + name + "\" (expected 429, 500, malformed, hang or drop)");
  }
}

}  // namespace cohort::mock_llm
