#pragma once
// A blocking HTTP/1.1 client for tests that talk to a real server on 127.0.0.1:
// one request a connection, with a timeout; and an event stream read until the
// server closes it.
#include <map>
#include <string>
#include <vector>

namespace cohort::testing {

struct http_answer {
  int status = 0;  // 0: no answer (connection failed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

http_answer http_call(int port, const std::string& method, const std::string& target, const std::string& body = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {}, int timeout_ms = 5000);

// The raw bytes a GET streams until the server closes (or timeout_ms pass).
std::string http_stream(int port, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {}, int timeout_ms = 10000);

// The same for a POST of a JSON `body` whose answer is a stream.
std::string http_post_stream(int port, const std::string& target, const std::string& body,
                             const std::vector<std::pair<std::string, std::string>>& headers = {}, int timeout_ms = 10000);

// Raw bytes on one connection: each of `writes`, `gap_ms` apart (pipelined requests, say),
// then everything read until the server closes (or timeout_ms pass).
std::string http_raw(int port, const std::vector<std::string>& writes, int gap_ms, int timeout_ms = 10000);

}  // namespace cohort::testing
