// cohort::Worker: joining a head and staying joined (docs/cluster.md). A thread of its
// own reaches the head with CAF's middleman, proves the secret against a fresh
// challenge, hands the head its worker host actor, and waits; when the head is lost it
// tries again every reconnect_ms until stopped. A refusal ends it: it is a setting to fix.
#include "cohort/worker.hpp"

#include "cohort/runtime.hpp"

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include "messages/cluster.hpp"
#include "runtime/cluster_auth.hpp"
#include "runtime/runtime_access.hpp"
#include "runtime/worker_host.hpp"
#include "spec/model_reader.hpp"

namespace cohort {

struct Worker::state {
  Runtime* runtime = nullptr;
  WorkerOptions options;
  worker_info info;
  caf::actor host;
  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  bool head_lost = false;
  uint64_t worker_id = 0;
  std::string refused;
  std::thread thread;

  bool wait_for_change(std::unique_lock<std::mutex>& lock, int64_t ms) {
    return changed.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping || head_lost; });
  }

  // One try: reach the head, prove, join. "" when joined; else why not.
  std::string join_once() {
    auto& sys = runtime_access::system(*runtime);
    auto head = sys.middleman().remote_actor(options.head_host, options.head_port);
    if (!head)
      return "cannot reach the head " + options.head_host + ":" + std::to_string(options.head_port) + ": " +
             sys.render(head.error());
    caf::scoped_actor self{sys};
    std::string failed;
    std::string challenge;
    self->request(*head, std::chrono::seconds(5), hello_atom::value)
        .receive([&](std::string& c) { challenge = std::move(c); },
                 [&](caf::error& e) { failed = "the head did not answer hello: " + sys.render(e); });
    if (!failed.empty()) return failed;
    auto proof = options.secret.empty() ? std::string{} : prove_cluster_secret(options.secret, challenge);
    worker_welcome welcome;
    self->request(*head, std::chrono::seconds(5), join_atom::value, info, proof, host)
        .receive([&](worker_welcome& w) { welcome = std::move(w); },
                 [&](caf::error& e) { failed = "the head did not answer the join: " + sys.render(e); });
    if (!failed.empty()) return failed;
    std::lock_guard<std::mutex> lock(mutex);
    if (welcome.worker_id == 0) {
      refused = welcome.refused.empty() ? "refused" : welcome.refused;
      changed.notify_all();
      return refused;
    }
    worker_id = welcome.worker_id;
    head_lost = false;
    caf::anon_send(host, joined_atom::value, *head, welcome.worker_id, welcome.heartbeat_ms);
    changed.notify_all();
    return {};
  }

  void serve() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping && refused.empty()) {
      lock.unlock();
      auto why = join_once();
      lock.lock();
      if (!refused.empty()) {
        spdlog::error("worker: the head refused this worker: {}", refused);
        break;
      }
      if (!why.empty()) {
        spdlog::warn("worker: {}; trying again in {} ms", why, options.reconnect_ms);
        wait_for_change(lock, options.reconnect_ms);
        continue;
      }
      spdlog::info("worker: joined {}:{} as worker {}", options.head_host, options.head_port, worker_id);
      changed.wait(lock, [&] { return stopping || head_lost; });
    }
  }
};

Worker::Worker(Runtime& runtime, WorkerOptions options) : state_(std::make_shared<state>()) {
  if (!runtime.options().cluster)
    throw std::invalid_argument("worker: the Runtime needs RuntimeOptions::cluster = true");
  if (options.slots < 1) throw std::invalid_argument("worker: slots must be at least 1");
  auto& st = *state_;
  st.runtime = &runtime;
  st.info.name = options.name;
  if (st.info.name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    st.info.name = std::string(host) + "#" + std::to_string(getpid());
  }
  st.info.version = cohort_version_text;
  st.info.protocol = cluster_protocol;
  st.info.slots = options.slots;
  st.info.labels = options.labels;
  st.info.tools = runtime_access::tool_names(runtime);
  worker_host_config config;
  config.runtime = &runtime;
  if (options.models.is_object() && !options.models.empty())
    config.own_models = load_models({{"models", options.models}}, "worker models");
  std::weak_ptr<state> weak = state_;
  config.on_head_lost = [weak](const std::string&) {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> lock(s->mutex);
      s->head_lost = true;
      s->worker_id = 0;
      s->changed.notify_all();
    }
  };
  st.options = std::move(options);
  st.host = spawn_worker_host(runtime_access::system(runtime), std::move(config));
  runtime_access::adopt(runtime, st.host);
  st.thread = std::thread([s = state_] { s->serve(); });
}

Worker::~Worker() {
  stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::unique_ptr<Worker> Runtime::join(WorkerOptions options) {
  return std::make_unique<Worker>(*this, std::move(options));
}

bool Worker::wait_joined(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  return state_->changed.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return state_->worker_id != 0 || !state_->refused.empty();
  }) && state_->worker_id != 0;
}

int Worker::wait() {
  if (state_->thread.joinable()) state_->thread.join();
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->refused.empty() ? 0 : 2;
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->stopping) return;
    state_->stopping = true;
    state_->changed.notify_all();
  }
  caf::anon_send(state_->host, stop_work_atom::value);
}

bool Worker::joined() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->worker_id != 0;
}

std::string Worker::refused() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->refused;
}

uint64_t Worker::worker_id() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->worker_id;
}

}  // namespace cohort
