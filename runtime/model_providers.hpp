#pragma once
// The model provider actors of a runtime, made on first use and shared by its runs for
// the runtime's life: one HTTP client per lone plain endpoint (its keep-alive
// connections and max_in_flight span runs), one pool per model alias and endpoint set
// (its connections, breakers, rate limits and affinity too). Thread-safe.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "spec/scenario.hpp"

namespace boost::asio {
class io_context;
}

namespace cohort {

class model_providers {
 public:
  model_providers(caf::actor_system& sys, boost::asio::io_context& io, std::shared_ptr<std::atomic<int64_t>> open_connections)
      : sys_(sys), io_(io), open_connections_(std::move(open_connections)) {}

  // The actor an agent of model `m` asks: its pool, or for a lone plain endpoint its client.
  caf::actor provider_for(const model_def& m);
  std::vector<caf::actor> pools() const;
  // Stops every pool, then every client (exit reason user_shutdown), and forgets them.
  void stop();

 private:
  caf::actor http_client_for(const model_def& m);  // with mutex_ held

  caf::actor_system& sys_;
  boost::asio::io_context& io_;
  std::shared_ptr<std::atomic<int64_t>> open_connections_;
  mutable std::mutex mutex_;
  std::map<std::string, caf::actor> http_clients_;
  std::map<std::string, caf::actor> pools_;
};

}  // namespace cohort
