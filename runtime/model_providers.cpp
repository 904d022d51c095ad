#include "runtime/model_providers.hpp"

#include <caf/send.hpp>

#include "models/model_pool.hpp"
#include "models/provider_actors.hpp"

namespace cohort {
namespace {

std::string endpoint_key(const endpoint_def& e) {
  auto key = e.base_url + "," + std::to_string(e.max_in_flight) + "," + std::to_string(e.rpm) + "," +
             std::to_string(e.tpm) + "," + std::to_string(e.weight) + "," + e.ca_file + "," +
             (e.tls_verify ? "verify" : "no-verify");
  for (const auto& [name, value] : e.headers) key += "," + name + "=" + value;
  return key;
}

// Everything an HTTP client reads of its model (see http_client.cpp).
std::string client_key(const model_def& m) {
  auto key = m.base_url + "|" + m.model + "|" + m.api_key_env + "|" + std::to_string(m.max_in_flight) + "|" +
             std::to_string(m.connect_timeout_ms) + "|" + std::to_string(m.request_timeout_ms) + "|" +
             m.params.dump() + (m.stream ? "|stream" : "");
  if (m.endpoints.size() == 1) key += "|" + endpoint_key(m.endpoints[0]);
  return key;
}

}  // namespace

caf::actor model_providers::http_client_for(const model_def& m) {
  auto& client = http_clients_[client_key(m)];
  if (!client) client = spawn_http_client(sys_, m, io_, open_connections_);
  return client;
}

caf::actor model_providers::provider_for(const model_def& m) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!m.needs_pool()) return http_client_for(m.for_endpoint(0));
  auto key = m.name + "|" + to_string(m.affinity) + "|" + std::to_string(m.breaker.failures) + "|" +
             std::to_string(m.breaker.open_ms) + "|";
  for (const auto& e : m.endpoints) key += endpoint_key(e) + ";";
  key += client_key(m);
  auto& pool = pools_[key];
  if (!pool) pool = spawn_model_pool(sys_, m, io_, open_connections_);
  return pool;
}

std::vector<caf::actor> model_providers::pools() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<caf::actor> out;
  for (const auto& kv : pools_) out.push_back(kv.second);
  return out;
}

void model_providers::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& kv : pools_) caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
  pools_.clear();
  for (auto& kv : http_clients_) caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
  http_clients_.clear();
}

}  // namespace cohort
