#pragma once
// mock-llm's shared state: the options, the responder, counters, the seeded draws of
// latency and faults, and the registry of live connections that stop() closes. Also
// the names every part of the server uses (Beast aliases, the faults).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "mock_llm/mock_llm_server.hpp"

namespace cohort::mock_llm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;
using nlohmann::json;
using string_request = http::request<http::string_body>;
using string_response = http::response<http::string_body>;
using tls_socket = asio::ssl::stream<tcp::socket>;

// ---------------------------------------------------------------------------
// Faults

enum class fault { none, rate_limit, server_error, malformed, hang, drop };
constexpr std::array<fault, 5> all_faults{fault::rate_limit, fault::server_error, fault::malformed,
                                          fault::hang, fault::drop};

const char* fault_name(fault f);
// Index into the per-fault counters (fault::none has none).
inline std::size_t fault_index(fault f) { return static_cast<std::size_t>(f) - 1; }
std::optional<fault> parse_fault(std::string_view name);
std::string known_faults_text();

// ---------------------------------------------------------------------------
// Shared state: options, the responder, counters, the seeded draws, and the
// registry of live connections that stop() closes.

// What stop() needs of a connection, plain or TLS.
class connection_base {
 public:
  virtual ~connection_base() = default;
  // From any thread (stop()): ends the connection, whatever it is doing.
  virtual void close() = 0;
};

struct counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> prompt_tokens{0};      // of the completed answers, as the
  std::atomic<std::uint64_t> completion_tokens{0};  // usage would say (even with --no-usage)
  std::atomic<std::uint64_t> invalid_requests{0};
  std::atomic<std::uint64_t> bearer_requests{0};  // with "Authorization: Bearer ..." (the key itself is never kept)
  std::atomic<std::uint64_t> client_cancellations{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> timed_out_connections{0};  // closed by the idle or header timeout
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::int64_t> in_flight{0};
  std::array<std::atomic<std::uint64_t>, all_faults.size()> faults;

  counters() {
    for (auto& f : faults) f.store(0);
  }
};

// Throws std::invalid_argument naming the first inconsistent option.
void validate(const mock_llm_options& o);

class server_state {
 public:
  explicit server_state(mock_llm_options options)
      : options_(std::move(options)), responder_(options_.model), rng_(options_.seed) {
    for (const auto& name : options_.faults) pool_.push_back(*parse_fault(name));
    if (pool_.empty()) pool_.assign(all_faults.begin(), all_faults.end());
  }

  const mock_llm_options& options() const { return options_; }
  const sim_responder& responder() const { return responder_; }
  counters& count() { return counters_; }

  std::chrono::milliseconds draw_latency() {
    if (options_.latency_max_ms <= options_.latency_min_ms)
      return std::chrono::milliseconds(options_.latency_min_ms);
    std::lock_guard<std::mutex> lock(rng_mutex_);
    return std::chrono::milliseconds(
        std::uniform_int_distribution<int>(options_.latency_min_ms, options_.latency_max_ms)(rng_));
  }

  fault draw_fault() {
    if (first_faults_left_.load() > 0 && first_faults_left_.fetch_sub(1) > 0) return *parse_fault(options_.fail_first_with);
    if (options_.fault_rate <= 0.0) return fault::none;
    std::lock_guard<std::mutex> lock(rng_mutex_);
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) >= options_.fault_rate) return fault::none;
    return pool_[std::uniform_int_distribution<std::size_t>(0, pool_.size() - 1)(rng_)];
  }

  // Requests by each "X-..." header they carried, with its value ("X-Team: red"):
  // shows that configured extra headers arrive, and where a workflow's calls went
  // (X-Workflow-Id). At most 10,000 distinct ones are kept: the header set of a long
  // benchmark must not grow the server without bound.
  void count_extra_headers(const string_request& req) {
    for (const auto& field : req) {
      auto name = field.name_string();
      if (name.size() < 2 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-') continue;
      auto key = std::string(name) + ": " + std::string(field.value());
      std::lock_guard<std::mutex> lock(headers_mutex_);
      auto it = extra_headers_.find(key);
      if (it != extra_headers_.end()) ++it->second;
      else if (extra_headers_.size() < 10000) extra_headers_.emplace(std::move(key), 1);
    }
  }

  // The body of the last chat request that was valid JSON, as sent (GET /last-request).
  void keep_last_request(const std::string& body) {
    auto copy = std::make_shared<const std::string>(body);
    std::lock_guard<std::mutex> lock(last_mutex_);
    last_request_.swap(copy);
  }
  std::shared_ptr<const std::string> last_request() const {
    std::lock_guard<std::mutex> lock(last_mutex_);
    return last_request_;
  }

  std::string next_completion_id() { return "chatcmpl-mock-" + std::to_string(++ids_); }

  // False once stopping: the caller drops the connection. Checked under the same
  // mutex as begin_stop() so no connection slips in after the snapshot.
  bool add_connection(const std::shared_ptr<connection_base>& c) {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    if (stopping_) return false;
    connections_.emplace(c.get(), c);
    ++counters_.open_connections;
    ++counters_.connections_total;
    return true;
  }

  void remove_connection(const connection_base* c) {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    if (connections_.erase(c) > 0) --counters_.open_connections;
  }

  std::vector<std::shared_ptr<connection_base>> begin_stop() {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    stopping_ = true;
    std::vector<std::shared_ptr<connection_base>> live;
    for (auto& [key, weak] : connections_)
      if (auto c = weak.lock()) live.push_back(std::move(c));
    return live;
  }

  // `asking_connections`: connections serving this very /stats request, left out of
  // open_connections so that a poller sees 0 once every client has gone.
  json stats(int asking_connections = 0) const {
    json faults = json::object();
    for (auto f : all_faults) faults[fault_name(f)] = counters_.faults[fault_index(f)].load();
    auto open = counters_.open_connections.load() - asking_connections;
    json extra = json::object();
    {
      std::lock_guard<std::mutex> lock(headers_mutex_);
      for (const auto& [header, n] : extra_headers_) extra[header] = n;
    }
    return {{"extra_headers", extra},
            {"requests", counters_.requests.load()},
            {"completed", counters_.completed.load()},
            {"prompt_tokens", counters_.prompt_tokens.load()},
            {"completion_tokens", counters_.completion_tokens.load()},
            {"invalid_requests", counters_.invalid_requests.load()},
            {"bearer_requests", counters_.bearer_requests.load()},
            {"faults", faults},
            {"open_connections", open < 0 ? 0 : open},
            {"connections_total", counters_.connections_total.load()},
            {"client_cancellations", counters_.client_cancellations.load()},
            {"tls_handshake_failures", counters_.tls_handshake_failures.load()},
            {"timed_out_connections", counters_.timed_out_connections.load()},
            {"in_flight", counters_.in_flight.load()}};
  }

 private:
  mock_llm_options options_;
  sim_responder responder_;
  counters counters_;
  std::vector<fault> pool_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> ids_{0};
  mutable std::mutex last_mutex_;
  std::shared_ptr<const std::string> last_request_;
  mutable std::mutex headers_mutex_;
  std::map<std::string, std::uint64_t> extra_headers_;
  std::atomic<int> first_faults_left_{options_.fail_first};
  std::mutex conn_mutex_;
  bool stopping_ = false;
  std::unordered_map<const connection_base*, std::weak_ptr<connection_base>> connections_;
};

}  // namespace cohort::mock_llm
