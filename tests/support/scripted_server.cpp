#include "tests/support/scripted_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace cohort::testing {
namespace {

constexpr int poll_ms = 50;  // how often a waiting thread checks for the stop
const std::string pause_mark = "\x01pause:";

// The length of the request at the front of `data`, or 0 while it is incomplete.
size_t complete_request(const std::string& data) {
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  size_t length = 0;
  auto at = data.find("Content-Length:");
  if (at == std::string::npos) at = data.find("content-length:");
  if (at != std::string::npos && at < head_end) length = std::stoul(data.substr(at + 15));
  auto total = head_end + 4 + length;
  return data.size() >= total ? total : 0;
}

}  // namespace

scripted_server::scripted_server(std::vector<std::string> answers) : answers_(std::move(answers)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("scripted_server: cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

scripted_server::~scripted_server() {
  stopping_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void scripted_server::serve() {
  std::vector<std::thread> workers;
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, poll_ms) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    size_t record;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      record = records_.size();
      records_.emplace_back();
    }
    workers.emplace_back([this, fd, record] { serve_connection(fd, record); });
  }
  for (auto& w : workers) w.join();
}

void scripted_server::serve_connection(int fd, size_t record) {
  std::string data;
  ending end = ending::open;
  while (!stopping_ && end == ending::open) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, poll_ms) <= 0) continue;
    char buf[8192];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      end = n == 0 ? ending::fin : ending::reset;  // ECONNRESET: the client closed abortively
      break;
    }
    data.append(buf, static_cast<size_t>(n));
    while (auto size = complete_request(data)) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        records_[record].requests.push_back(data.substr(0, size));
      }
      data.erase(0, size);
      end = write_answer(fd, next_answer());
      if (end != ending::open) break;
    }
  }
  ::close(fd);
  std::lock_guard<std::mutex> lock(mutex_);
  records_[record].end = end;
  changed_.notify_all();
}

std::string scripted_server::pause(int ms) { return pause_mark + std::to_string(ms) + "\x01"; }

scripted_server::ending scripted_server::write_answer(int fd, const std::string& answer) {
  size_t at = 0;
  while (!stopping_) {
    auto mark = answer.find(pause_mark, at);
    auto part = answer.substr(at, mark == std::string::npos ? std::string::npos : mark - at);
    if (!part.empty()) ::send(fd, part.data(), part.size(), MSG_NOSIGNAL);
    if (mark == std::string::npos) return ending::open;
    auto digits = mark + pause_mark.size();
    auto end = answer.find('\x01', digits);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(answer.substr(digits, end - digits)));
    // Meanwhile it watches for the client's end (what the client sends stays unread).
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5) <= 0) continue;
      char byte;
      auto n = ::recv(fd, &byte, 1, MSG_PEEK);
      if (n == 0) return ending::fin;
      if (n < 0 && errno != EINTR && errno != EAGAIN) return ending::reset;
      if (n > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    at = end + 1;
  }
  return ending::open;
}

std::string scripted_server::next_answer() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (answers_.empty()) return {};
  auto i = next_ < answers_.size() ? next_++ : answers_.size() - 1;
  return answers_[i];
}

std::vector<scripted_server::connection_record> scripted_server::connections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_;
}

bool scripted_server::wait_all_ended(int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] {
    for (const auto& r : records_)
      if (r.end == ending::open) return false;
    return true;
  });
}

std::string http_json_answer(int status, const std::string& reason, const std::string& body,
                             const std::string& extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chat_answer_json(const std::string& text) {
  return R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":")" +
         text + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})";
}

}  // namespace cohort::testing
