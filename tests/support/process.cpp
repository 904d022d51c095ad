#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace cohort::testing {

child_process::child_process(const std::vector<std::string>& argv, const std::string& stdin_text) {
  // Made before the fork: the child of a process with threads (the tests' runtimes) may
  // only call async-signal-safe functions until it execs. An allocation there could wait
  // for ever on a lock another thread held at the fork (a mock that never started, rarely).
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2], in[2];
  if (pipe(out) || pipe(err) || pipe(in)) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1]}) close(fd);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  close(in[0]);
  if (!stdin_text.empty()) (void)!write(in[1], stdin_text.data(), stdin_text.size());
  close(in[1]);
  out_ = out[0];
  err_ = err[0];
}

child_process::~child_process() {
  terminate();
  if (out_ >= 0) close(out_);
  if (err_ >= 0) close(err_);
}

std::string child_process::read_until(int fd, std::string& buffer, bool line, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (line) {
      auto nl = buffer.find('\n');
      if (nl != std::string::npos) {
        auto l = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        return l;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    auto n = read(fd, buf, sizeof buf);
    if (n <= 0) break;  // closed
    buffer.append(buf, static_cast<size_t>(n));
  }
  if (line) return "";
  std::string all;
  all.swap(buffer);
  return all;
}

std::string child_process::read_line(int timeout_ms) { return read_until(out_, out_buf_, true, timeout_ms); }
std::string child_process::read_all(int timeout_ms) { return read_until(out_, out_buf_, false, timeout_ms); }
std::string child_process::read_stderr(int timeout_ms) { return read_until(err_, err_buf_, false, timeout_ms); }

int child_process::wait(int timeout_ms) {
  if (exited_) return status_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

void child_process::signal(int sig) {
  if (!exited_ && pid_ > 0) kill(pid_, sig);
}

void child_process::terminate() {
  if (exited_ || pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (wait(3000) == -1) {
    kill(pid_, SIGKILL);
    wait(3000);
  }
}

mock_llm_process::mock_llm_process(const std::vector<std::string>& args, int port)
    : proc_([&] {
        std::vector<std::string> argv{COHORT_BINARY, "mock-llm", "--port", std::to_string(port)};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
      }()) {
  auto line = proc_.read_line(10000);
  auto colon = line.rfind(':');
  if (line.find("listening") == std::string::npos || colon == std::string::npos)
    throw std::runtime_error("mock-llm did not start: \"" + line + "\" " + proc_.read_stderr(500));
  port_ = std::stoi(line.substr(colon + 1));
}

std::string mock_llm_process::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

std::string http_get(int port, const std::string& target, int timeout_ms) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                  static_cast<unsigned short>(port)));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(false);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    return res.body();
  } catch (const std::exception&) {
    return "";
  }
}

nlohmann::json mock_stats(int port) { return nlohmann::json::parse(http_get(port, "/stats"), nullptr, false); }

nlohmann::json wait_stats(int port, const std::function<bool(const nlohmann::json&)>& done, int timeout_ms) {
  nlohmann::json s;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    s = mock_stats(port);
    if (!s.is_discarded() && done(s)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < until);
  return s;
}

}  // namespace cohort::testing
