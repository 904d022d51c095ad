// The server: an acceptor on its own strand, N threads running the io_context; the
// connections (connection.cpp) route requests (routes.cpp) and write answers
// (answers.cpp) over the shared state (server_state.cpp).
#include "mock_llm/mock_llm_server.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "mock_llm/connection.hpp"
#include "mock_llm/routes.hpp"
#include "runtime/open_file_limit.hpp"

namespace cohort {

using namespace mock_llm;

namespace {

// How long stop() lets the I/O threads drain after closing everything before it
// stops the io_context outright: stop() must never hang.
constexpr auto stop_grace = std::chrono::seconds(2);
constexpr auto accept_retry_delay = std::chrono::milliseconds(100);

tcp::endpoint resolve_listen_endpoint(asio::io_context& io, const std::string& host, uint16_t port) {
  tcp::resolver resolver(io);
  error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    throw std::runtime_error("mock-llm: cannot resolve host \"" + host + "\": " +
                             (ec ? ec.message() : std::string("no address")));
  return results.begin()->endpoint();
}

}  // namespace

mock_llm_reply mock_llm_answer(const mock_llm_options& options, const std::string& method, const std::string& target,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body) {
  validate(options);
  server_state state(options);
  string_request req;
  req.version(11);
  req.method_string(method);
  req.target(target);
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.body() = body;
  auto routed = route(req, state);
  if (routed.answer) return {routed.answer->result_int(), std::move(routed.answer->body()), {}};
  const auto& job = routed.job;
  if (job.injected != fault::none) return {0, {}, fault_name(job.injected)};
  if (!job.stream) return {200, dump_for_client(completion_doc(job)), {}};
  std::string events;
  for (const auto& event : plan_stream(job).events) events += event;
  return {200, std::move(events), {}};
}

struct mock_llm_server::impl {
  explicit impl(mock_llm_options options) : state(std::make_shared<server_state>(std::move(options))) {}

  // Declared first so it is destroyed last: sockets and timers need its services.
  asio::io_context io;
  std::shared_ptr<server_state> state;
  std::optional<asio::ssl::context> tls;  // --tls: the certificate and key it serves
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;

  std::mutex lifecycle;  // start() against stop()
  bool started = false;
  bool stopped = false;
  uint16_t port = 0;

  std::mutex exit_mutex;  // threads report their exit, so stop() can wait with a deadline
  std::condition_variable exit_cv;
  int running_threads = 0;

  void load_certificate() {
    const auto& o = state->options();
    if (o.tls_cert_file.empty()) return;
    tls.emplace(asio::ssl::context::tls_server);
    error_code ec;
    tls->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) throw std::runtime_error("mock-llm: cannot load the certificate --cert " + o.tls_cert_file + ": " + ec.message());
    tls->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("mock-llm: cannot load the private key --key " + o.tls_key_file + ": " + ec.message());
  }

  void listen() {
    load_certificate();
    auto endpoint = resolve_listen_endpoint(io, state->options().host, state->options().port);
    auto where = state->options().host + ":" + std::to_string(state->options().port);
    acceptor.emplace(asio::make_strand(io));
    error_code ec;
    auto check = [&](const char* step) {
      if (!ec) return;
      acceptor.reset();
      throw std::runtime_error("mock-llm: cannot " + std::string(step) + " " + where + ": " + ec.message());
    };
    acceptor->open(endpoint.protocol(), ec);
    check("open a socket for");
    acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    check("set SO_REUSEADDR on");
    acceptor->bind(endpoint, ec);
    check("bind");
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
    check("listen on");
    port = acceptor->local_endpoint(ec).port();
    check("read the port of");
    accept_retry.emplace(acceptor->get_executor());
  }

  void accept() {
    acceptor->async_accept(asio::make_strand(io),
                           [this](error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // e.g. out of file descriptors: retry shortly instead of spinning.
      spdlog::warn("mock-llm: accept failed: {}", ec.message());
      accept_retry->expires_after(accept_retry_delay);
      accept_retry->async_wait([this](error_code ec) {
        if (!ec && acceptor->is_open()) accept();
      });
      return;
    }
    error_code ignored;  // answers are small: send them without waiting for Nagle
    socket.set_option(tcp::no_delay(true), ignored);
    // Not added: stopping, and dropping it closes the socket.
    if (tls) serve(tls_socket(std::move(socket), *tls), state);
    else serve(std::move(socket), state);
    accept();
  }

  void run_thread() {
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        // Handlers catch their own errors; keep serving if one slipped through.
        spdlog::error("mock-llm: I/O thread caught: {}", e.what());
      }
    }
    std::lock_guard<std::mutex> lock(exit_mutex);
    --running_threads;
    exit_cv.notify_all();
  }

  void start_threads() {
    work.emplace(io.get_executor());
    int n = state->options().threads;
    {
      std::lock_guard<std::mutex> lock(exit_mutex);
      running_threads = n;
    }
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { run_thread(); });
  }

  void close_everything() {
    asio::post(acceptor->get_executor(), [this] {
      error_code ignored;
      acceptor->close(ignored);
      accept_retry->cancel();
    });
    for (auto& conn : state->begin_stop()) conn->close();
    work.reset();  // the threads return once the closes have drained
  }

  void join_threads() {
    {
      std::unique_lock<std::mutex> lock(exit_mutex);
      if (!exit_cv.wait_for(lock, stop_grace, [this] { return running_threads == 0; })) {
        spdlog::warn("mock-llm: I/O still busy {} s after stop; stopping it outright",
                     std::chrono::duration_cast<std::chrono::seconds>(stop_grace).count());
        io.stop();
      }
    }
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

mock_llm_server::mock_llm_server(mock_llm_options options) {
  validate(options);
  impl_ = std::make_unique<impl>(std::move(options));
}

mock_llm_server::~mock_llm_server() { stop(); }

uint16_t mock_llm_server::start() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle);
  if (impl_->stopped) throw std::logic_error("mock-llm: start() after stop()");
  if (impl_->started) return impl_->port;
  raise_open_file_limit();
  impl_->listen();
  impl_->accept();  // no thread runs yet, so touching the acceptor here is safe
  impl_->start_threads();
  impl_->started = true;
  return impl_->port;
}

void mock_llm_server::stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  impl_->close_everything();
  impl_->join_threads();
}

nlohmann::json mock_llm_server::stats() const { return impl_->state->stats(); }

}  // namespace cohort
