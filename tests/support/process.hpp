#pragma once
// Real child processes for integration tests: started with pipes, read with
// timeouts, ended by their process id (SIGTERM, then SIGKILL).
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort::testing {

class child_process {
 public:
  explicit child_process(const std::vector<std::string>& argv, const std::string& stdin_text = "");
  ~child_process();  // terminates it if still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  int pid() const { return pid_; }
  // One line of stdout (without '\n'), or "" after timeout_ms.
  std::string read_line(int timeout_ms);
  // Everything on stdout until the process closes it, within timeout_ms.
  std::string read_all(int timeout_ms);
  std::string read_stderr(int timeout_ms);
  // Waits for the exit; returns the exit code, or -1 on timeout, 128+N for signal N.
  int wait(int timeout_ms);
  void signal(int sig);
  void terminate();

 private:
  std::string read_until(int fd, std::string& buffer, bool line, int timeout_ms);

  int pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  int status_ = -1;
  bool exited_ = false;
  std::string out_buf_;
  std::string err_buf_;
};

// Starts `cohort mock-llm --port PORT ARGS...` and reads the port it prints
// (PORT 0: any free port; a fixed one restarts a server where a stopped one was).
class mock_llm_process {
 public:
  explicit mock_llm_process(const std::vector<std::string>& args = {}, int port = 0);
  int port() const { return port_; }
  std::string base_url() const;
  child_process& process() { return proc_; }

 private:
  child_process proc_;
  int port_ = 0;
};

// A GET on 127.0.0.1:port; returns the body ("" on failure), with a timeout.
std::string http_get(int port, const std::string& target, int timeout_ms = 2000);

// A mock-llm's GET /stats (a discarded value when it does not answer).
nlohmann::json mock_stats(int port);

// Polls /stats until `done` holds or `timeout_ms` pass; returns the last stats.
nlohmann::json wait_stats(int port, const std::function<bool(const nlohmann::json&)>& done, int timeout_ms = 3000);

}  // namespace cohort::testing
