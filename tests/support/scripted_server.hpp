#pragma once
// A hostile (or just odd) model server for tests: a TCP server on 127.0.0.1 that
// answers each request with bytes the test scripts, exactly as given, and records what
// it received and how each connection ended (an orderly FIN or a reset). One thread;
// every wait is bounded; the destructor stops it.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cohort::testing {

class scripted_server {
 public:
  // How a client ended a connection.
  enum class ending { open, fin, reset };

  struct connection_record {
    std::vector<std::string> requests;  // each request as received (head and body)
    ending end = ending::open;
  };

  // `answers`: what each request gets, in order across connections; the last one
  // repeats. Each answer is written whole, then the connection waits for the next
  // request (keep-alive) or for the client to end it.
  explicit scripted_server(std::vector<std::string> answers);
  ~scripted_server();
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;

  // Put into an answer: the server waits `ms` there before it writes the rest (a slow
  // first event of a stream, say).
  static std::string pause(int ms);

  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  // A copy of the records so far.
  std::vector<connection_record> connections() const;
  // Waits (at most `timeout_ms`) until every connection accepted so far has ended.
  bool wait_all_ended(int timeout_ms) const;

 private:
  void serve();
  void serve_connection(int fd, size_t record);
  std::string next_answer();
  // How the client ended the connection while a pause waited (open: it did not).
  ending write_answer(int fd, const std::string& answer);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<std::string> answers_;
  size_t next_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<connection_record> records_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// An HTTP/1.1 answer with a JSON body and keep-alive.
std::string http_json_answer(int status, const std::string& reason, const std::string& body,
                             const std::string& extra_headers = "");

// A chat completion answer saying `text`.
std::string chat_answer_json(const std::string& text);

}  // namespace cohort::testing
