#include "agents/mcp_stdio_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "messages/input_limits.hpp"

extern char** environ;

namespace cohort {

// One request waiting for its answer.
struct mcp_stdio_client::pending {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  nlohmann::json result;
  std::string error_kind;  // "": answered with a result
  std::string error;
};

namespace {

using clock_type = std::chrono::steady_clock;

constexpr size_t max_line = size_t{16} << 20;  // one message from the server

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string error_text(int err) { return std::strerror(err); }

// Ends a server and everything it started (its process group), and reaps it.
void end_process(int pid, int stdin_fd) {
  if (pid <= 0) return;
  if (stdin_fd >= 0) ::shutdown(stdin_fd, SHUT_WR);  // a polite server exits at the end of its input
  auto exited = [&](int wait_ms) {
    for (int waited = 0; waited <= wait_ms; waited += 10) {
      if (::waitpid(pid, nullptr, WNOHANG) != 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  if (exited(200)) {
    ::kill(-pid, SIGKILL);  // what it left behind in its group
    return;
  }
  ::kill(-pid, SIGTERM);
  if (exited(300)) return;
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// The runtime's environment with `extra` on top, as "NAME=value" strings.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto name = entry.substr(0, entry.find('='));
    if (!extra.count(name)) env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

mcp_stdio_client::mcp_stdio_client(mcp_server_def def) : mcp_client(std::move(def)) {}

mcp_stdio_client::~mcp_stdio_client() { stop(); }

int mcp_stdio_client::pid() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return alive_ ? pid_ : 0;
}

nlohmann::json mcp_stdio_client::request(const std::string& method, nlohmann::json params, int timeout_ms) {
  ensure_started();
  auto p = std::make_shared<pending>();
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!alive_) throw mcp_error("mcp_unavailable", "MCP server " + def_.name + " exited before " + method);
    // Started again by another caller meanwhile, its handshake not done: nothing else may go first.
    if (!initialized_) throw mcp_error("mcp_unavailable", "MCP server " + def_.name + " is starting again");
    id = next_id_++;
    pending_[id] = p;
    try {
      send_line({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
    } catch (...) {
      pending_.erase(id);
      throw;
    }
  }
  std::unique_lock<std::mutex> wait(p->m);
  if (!p->cv.wait_for(wait, std::chrono::milliseconds(timeout_ms), [&] { return p->done; })) {
    wait.unlock();
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.erase(id);
    throw mcp_error("timeout", "no answer from MCP server " + def_.name + " to " + method + " within " +
                                   std::to_string(timeout_ms) + " ms");
  }
  if (!p->error_kind.empty()) throw mcp_error(p->error_kind, p->error);
  return std::move(p->result);
}

// Starting is one at a time: a second caller waits for the first one's handshake.
void mcp_stdio_client::ensure_started() {
  std::lock_guard<std::mutex> starting(start_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (alive_ && initialized_) return;
  }
  stop();  // what is left of an earlier start
  start();
  request_started("initialize", mcp_initialize_params());
  std::lock_guard<std::mutex> lock(mutex_);
  send_line({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  initialized_ = true;
}

// A request before the handshake is done (initialize itself).
nlohmann::json mcp_stdio_client::request_started(const std::string& method, nlohmann::json params) {
  auto p = std::make_shared<pending>();
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = next_id_++;
    pending_[id] = p;
    send_line({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
  }
  std::unique_lock<std::mutex> wait(p->m);
  if (!p->cv.wait_for(wait, std::chrono::milliseconds(def_.timeout_ms), [&] { return p->done; })) {
    wait.unlock();
    stop();
    throw mcp_error("timeout", "MCP server " + def_.name + " did not answer " + method + " within " +
                                   std::to_string(def_.timeout_ms) + " ms");
  }
  if (!p->error_kind.empty()) throw mcp_error(p->error_kind, p->error);
  return std::move(p->result);
}

void mcp_stdio_client::start() {
  int in_pair[2];   // [0] ours, [1] the server's stdin
  // [0] ours, [1] the server's stdout. A socket, not a pipe: stop() can end our reading
  // with shutdown() even while something the server started keeps its end open.
  int out_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0)
    throw mcp_error("mcp_unavailable", "MCP server " + def_.name + ": socketpair: " + error_text(errno));
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out_pair) != 0) {
    ::close(in_pair[0]);
    ::close(in_pair[1]);
    throw mcp_error("mcp_unavailable", "MCP server " + def_.name + ": socketpair: " + error_text(errno));
  }
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, in_pair[1], 0);
  posix_spawn_file_actions_adddup2(&files, out_pair[1], 1);
  posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0);
  // Nothing else: Asio opens its sockets without CLOEXEC, and a server holding the
  // node's listener or model connections could accept its clients, or keep a closed
  // connection open for ever.
  posix_spawn_file_actions_addclosefrom_np(&files, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (ended as one), default signal handling, nothing blocked.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<std::string> argv_strings{def_.command};
  argv_strings.insert(argv_strings.end(), def_.args.begin(), def_.args.end());
  auto env_strings = environment_with(def_.env);
  auto argv = pointers(argv_strings);
  auto envp = pointers(env_strings);
  pid_t child = 0;
  int rc = posix_spawnp(&child, def_.command.c_str(), &files, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  ::close(in_pair[1]);
  ::close(out_pair[1]);
  if (rc != 0) {
    ::close(in_pair[0]);
    ::close(out_pair[0]);
    throw mcp_error("mcp_unavailable", "cannot start MCP server " + def_.name + " (\"" + def_.command + "\"): " +
                                           error_text(rc));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  pid_ = child;
  in_fd_ = in_pair[0];
  out_fd_ = out_pair[0];
  alive_ = true;
  initialized_ = false;
  auto generation = ++generation_;
  // Tells the reader when the server exits, even while something it started holds its
  // output open (-1 where the kernel has no pidfd: the end of the output tells then).
  int exit_fd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  reader_ = std::thread([this, fd = out_fd_, exit_fd, generation] { read_loop(fd, exit_fd, generation); });
}

// Writes one message and its newline, within the server's timeout (a server that
// stopped reading cannot hold the caller for ever).
void mcp_stdio_client::send_line(const nlohmann::json& message) {
  auto text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  auto deadline = clock_type::now() + std::chrono::milliseconds(def_.timeout_ms);
  size_t sent = 0;
  while (sent < text.size()) {
    auto n = ::send(in_fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      throw mcp_error("mcp_unavailable", "writing to MCP server " + def_.name + " failed: " + error_text(errno));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0) {
      // Half a line in its input would garble every later message: it starts afresh.
      if (sent > 0 && pid_ > 0) ::kill(-pid_, SIGKILL);
      throw mcp_error("timeout", "MCP server " + def_.name + " stopped reading its input");
    }
    pollfd p{in_fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
}

void mcp_stdio_client::read_loop(int fd, int exit_fd, uint64_t generation) {
  std::string buffer;
  char chunk[65536];
  std::string why = "exited (or closed its output)";
  for (;;) {
    if (exit_fd >= 0) {  // what it wrote is read first; then its exit ends the reading
      pollfd watched[2] = {{fd, POLLIN, 0}, {exit_fd, POLLIN, 0}};
      if (::poll(watched, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (watched[0].revents == 0 && watched[1].revents != 0) break;
    }
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
      auto line = std::string_view(buffer).substr(start, nl - start);
      start = nl + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto message = parse_untrusted_json_or_discarded(line);
      if (message.is_object()) answer(message);  // anything else is not JSON-RPC: ignored
    }
    buffer.erase(0, start);
    if (buffer.size() > max_line) {
      why = "sent a message longer than 16 MiB";
      std::lock_guard<std::mutex> lock(mutex_);
      if (generation == generation_ && pid_ > 0) ::kill(-pid_, SIGKILL);
      break;
    }
  }
  if (exit_fd >= 0) ::close(exit_fd);
  server_gone(generation, why);
}

void mcp_stdio_client::answer(const nlohmann::json& message) {
  auto id = message.find("id");
  if (id == message.end() || id->is_null()) return;  // a notification
  std::lock_guard<std::mutex> lock(mutex_);
  if (message.contains("method")) return refuse(*id);
  if (!id->is_number_integer()) return;
  auto it = pending_.find(id->get<int64_t>());
  if (it == pending_.end()) return;  // timed out already
  auto p = it->second;
  pending_.erase(it);
  std::lock_guard<std::mutex> done(p->m);
  if (message.contains("error")) {
    auto e = mcp_error_answer(def_.name, message["error"]);
    p->error_kind = e.kind;
    p->error = e.what();
  } else {
    p->result = message.value("result", nlohmann::json::object());
  }
  p->done = true;
  p->cv.notify_all();
}

// The server asks something of us: nothing is offered. One try, never a wait: the reader
// must not stop reading (nor hold the lock the callers need) for a server that floods
// requests without reading our answers; those it leaves no room for are dropped.
void mcp_stdio_client::refuse(const nlohmann::json& id) {
  nlohmann::json refusal{{"jsonrpc", "2.0"}, {"id", id},
                         {"error", {{"code", -32601}, {"message", "cohort's MCP client offers no methods"}}}};
  auto text = refusal.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  auto n = ::send(in_fd_, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Part of it went: the rest of its input would be garbled, so it starts afresh.
  if (n > 0 && static_cast<size_t>(n) < text.size() && pid_ > 0) ::kill(-pid_, SIGKILL);
}

// The server's output ended: what waits for it fails now.
void mcp_stdio_client::server_gone(uint64_t generation, const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (generation != generation_) return;  // stopped on purpose, or restarted since
  alive_ = false;
  initialized_ = false;
  for (auto& [id, p] : pending_) {
    std::lock_guard<std::mutex> done(p->m);
    p->error_kind = "mcp_unavailable";
    p->error = "MCP server " + def_.name + " " + why + " before answering";
    p->done = true;
    p->cv.notify_all();
  }
  pending_.clear();
}

void mcp_stdio_client::stop() {
  int pid = 0, in_fd = -1, out_fd = -1;
  std::thread reader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pid = pid_;
    in_fd = in_fd_;
    out_fd = out_fd_;
    reader = std::move(reader_);
    pid_ = 0;
    in_fd_ = out_fd_ = -1;
    alive_ = initialized_ = false;
    ++generation_;  // the reader's end is not news any more
    for (auto& [id, p] : pending_) {
      std::lock_guard<std::mutex> done(p->m);
      p->error_kind = "mcp_unavailable";
      p->error = "MCP server " + def_.name + " was stopped";
      p->done = true;
      p->cv.notify_all();
    }
    pending_.clear();
  }
  end_process(pid, in_fd);
  // A process the server started in a session of its own may hold its output open: the
  // reader would wait for it for ever.
  if (out_fd >= 0) ::shutdown(out_fd, SHUT_RDWR);
  if (reader.joinable()) reader.join();
  close_fd(in_fd);
  close_fd(out_fd);
}

}  // namespace cohort
