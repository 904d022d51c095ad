#pragma once
// An OpenAI-compatible HTTP server answering with the simulated model: what
// `cohort mock-llm` serves and what tests start in-process on 127.0.0.1. Plain
// Boost.Beast on an io_context run by N threads (no CAF), with latency and fault
// injection, and counters that prove clients really closed what they abandoned.
//
// Endpoints: POST /v1/chat/completions (optionally "stream": true, as SSE),
// GET /v1/models, GET /stats (the stats() document; its open_connections leaves
// out the connection asking, so a poller sees 0 once every client is gone),
// GET /last-request (the body of the last chat request, as sent; 404 before any).
// A request may force a fault with the header `X-Mock-Fault: <fault>` or the body
// field "mock_fault"; "none" forces a normal answer even under fault_rate.
// `fail_first` scripts a start-up fault: the first N requests fail the same way.
// With a certificate and key it serves HTTPS instead (its handshake failures are
// counted in /stats as tls_handshake_failures).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/sim_responder.hpp"

namespace cohort {

struct mock_llm_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                 // 0 = any free port
  int threads = 1;
  int latency_min_ms = 0;            // uniform in [min,max], fixed when equal
  int latency_max_ms = 0;
  double fault_rate = 0.0;           // share of requests that get a random fault
  std::vector<std::string> faults;   // which faults are drawn: "429","500","malformed","hang","drop"; empty = all
  uint64_t seed = 1;
  int retry_after_s = 1;             // Retry-After header value on 429
  int fail_first = 0;                // the first N chat requests get `fail_first_with` (then as usual)
  std::string fail_first_with = "500";
  std::string tls_cert_file;         // both set: serve HTTPS with this certificate (chain, PEM)
  std::string tls_key_file;          // and its private key (PEM)
  bool usage = true;                 // false: answers carry no "usage" (as some servers do)
  bool tool_calls = false;           // answer with one tool call (content null) to the request's
                                     // first tools[].function.name ("mock_tool" if none)
  sim_settings model;                // reply text/rules (its latency/failure fields are ignored here)
  // A client that holds a connection without asking (idle keep-alive, or never a
  // byte) is closed after idle_timeout_ms; one that has begun a request must finish
  // its header within header_timeout_ms (and then its body within as long again),
  // or gets 408 and a close: slowloris clients cannot hold connections for ever.
  int idle_timeout_ms = 60000;
  int header_timeout_ms = 10000;
};

class mock_llm_server {
 public:
  // Throws std::invalid_argument on inconsistent options (unknown fault name,
  // fault_rate outside [0,1], latency min > max, threads < 1, ...).
  explicit mock_llm_server(mock_llm_options options);
  ~mock_llm_server();                // calls stop()
  mock_llm_server(const mock_llm_server&) = delete;
  mock_llm_server& operator=(const mock_llm_server&) = delete;

  // Bind+listen, start threads, return actual port; throws std::runtime_error with a
  // clear message on bind failure. A second call returns the same port; start()
  // after stop() throws std::logic_error.
  uint16_t start();
  // Close acceptor and every connection, join threads; idempotent; never hangs
  // (pending "hang" requests included). Must not be called from a handler thread.
  void stop();
  nlohmann::json stats() const;      // same document as GET /stats

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// How the server answers one request, decided as a connection decides it but without
// a socket or any waiting (tests, fuzzing): the status and body of the answer (a
// streamed one: its SSE events, one after another), or the injected fault that the
// connection would play instead. Each call starts from a new server's state (counters,
// /last-request, fail_first). Throws std::invalid_argument on inconsistent options.
struct mock_llm_reply {
  unsigned status = 0;
  std::string body;
  std::string fault;  // "429", "500", "malformed", "hang" or "drop"; empty: none
};
mock_llm_reply mock_llm_answer(const mock_llm_options& options, const std::string& method, const std::string& target,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body);

}  // namespace cohort
