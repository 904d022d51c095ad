#pragma once
// A worker of a cluster (docs/cluster.md): this Runtime joins a head node
// (`cohort serve --cluster-port`) and runs the leaf-agent branches the head places on it,
// with this runtime's tools (register them first) and models. It rejoins when it loses
// the head. The Runtime must be made with RuntimeOptions::cluster = true.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

class Runtime;

struct WorkerOptions {
  // Where the head is (the worker dials it), or `listen`: the worker waits on
  // listen_bind:listen_port (0: any free port) for a head to dial it and invite it
  // (`cohort run FILE --workers HOST:PORT`); it serves one head at a time.
  std::string head_host = "127.0.0.1";
  uint16_t head_port = 7071;
  bool listen = false;
  std::string listen_bind = "127.0.0.1";  // other than loopback only with a secret
  uint16_t listen_port = 0;
  int slots = 16;                             // branches run at once
  std::map<std::string, std::string> labels;  // placement matches on these
  std::string name;                           // "" = host name and process id
  std::string secret;                         // the head's cluster secret, if it has one
  // Models by alias that replace the scenario's own definition here ({"models": {...}}
  // as `cohort serve --models` reads it): a worker next to its own vLLM says so here.
  nlohmann::json models = nlohmann::json::object();
  int reconnect_ms = 1000;  // between tries to reach the head
};

class Worker {
 public:
  // Starts joining in the background. Throws std::invalid_argument for bad options.
  Worker(Runtime& runtime, WorkerOptions options);
  ~Worker();  // stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Waits until the head took this worker (true) or refused it (false: see refused()),
  // or `timeout_ms` passed (false).
  bool wait_joined(int64_t timeout_ms);
  // Blocks until stop() or a refusal; returns 0 after stop(), 2 after a refusal.
  int wait();
  // Cancels the branches running here and leaves the cluster.
  void stop();

  bool joined() const;
  std::string refused() const;  // why the head refused us ("" if it has not)
  uint64_t worker_id() const;   // the head's id for us (0 before joining)
  uint16_t listening_port() const;  // with `listen`: where heads dial in

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace cohort
