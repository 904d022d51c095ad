// cohort::Worker: joining a head and staying joined (docs/cluster.md). A thread of its
// own reaches the head with CAF's middleman, proves the secret against a fresh
// challenge, hands the head its worker host actor, and waits; when the head is lost it
// tries again every reconnect_ms until stopped. A refusal ends it: it is a setting to fix.
#include "cohort/worker.hpp"

#include "cohort/runtime.hpp"

#include <condition_variable>
#include <map>
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
  worker_host_config host_config;
  caf::actor host;  // the current membership's (under `mutex`)
  caf::actor invitations;  // listen mode: what heads dial
  uint16_t listening_port = 0;
  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  bool head_lost = false;
  uint64_t worker_id = 0;
  std::string refused;
  caf::actor invited_by;  // listen mode: the membership of the head that invited us, until we join it
  caf::actor serving;     // listen mode: the membership we joined, while we are its worker
  std::thread thread;

  // Waits out the pause between tries to reach the head; true when stopped meanwhile.
  bool pause(std::unique_lock<std::mutex>& lock, int64_t ms) {
    return changed.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping; });
  }

  // Proves the secret to the head's membership and joins it. "" when joined; else why
  // not (and `refused` says it when the head refused rather than failed to answer).
  std::string handshake(const caf::actor& head, std::string& refusal) {
    auto& sys = runtime_access::system(*runtime);
    auto host = fresh_host();
    caf::scoped_actor self{sys};
    std::string failed;
    std::string challenge;
    self->request(head, std::chrono::seconds(3), hello_atom::value)
        .receive([&](std::string& c) { challenge = std::move(c); },
                 [&](caf::error& e) { failed = "the head did not answer hello: " + sys.render(e); });
    if (!failed.empty()) return failed;
    auto proof = options.secret.empty() ? std::string{} : prove_cluster_secret(options.secret, challenge);
    worker_welcome welcome;
    self->request(head, std::chrono::seconds(5), join_atom::value, info, proof, host)
        .receive([&](worker_welcome& w) { welcome = std::move(w); },
                 [&](caf::error& e) { failed = "the head did not answer the join: " + sys.render(e); });
    if (!failed.empty()) return failed;
    if (welcome.worker_id == 0) {
      refusal = welcome.refused.empty() ? "refused" : welcome.refused;
      return refusal;
    }
    std::lock_guard<std::mutex> lock(mutex);
    worker_id = welcome.worker_id;
    head_lost = false;
    caf::anon_send(host, joined_atom::value, head, welcome.worker_id, welcome.heartbeat_ms);
    changed.notify_all();
    return {};
  }

  // Each membership gets a host actor of its own: a head that lost our connection may
  // still hold the proxy of the last one, dead with that connection, and CAF would give
  // it that dead proxy again for the same actor.
  caf::actor fresh_host() {
    std::lock_guard<std::mutex> lock(mutex);
    if (host) caf::anon_send(host, stop_work_atom::value);
    host = spawn_worker_host(runtime_access::system(*runtime), host_config);
    runtime_access::adopt(*runtime, host);
    return host;
  }

  // Dial mode: reach the head and join it, until stopped; a refusal ends it.
  void dial() {
    auto& sys = runtime_access::system(*runtime);
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping && refused.empty()) {
      lock.unlock();
      std::string why, refusal;
      auto head = sys.middleman().remote_actor(options.head_host, options.head_port);
      if (!head)
        why = "cannot reach the head " + options.head_host + ":" + std::to_string(options.head_port) + ": " +
              sys.render(head.error());
      else
        why = handshake(*head, refusal);
      lock.lock();
      if (!refusal.empty()) {
        refused = refusal;
        changed.notify_all();
        spdlog::error("worker: the head refused this worker: {}", refused);
        break;
      }
      if (!why.empty()) {
        spdlog::warn("worker: {}; trying again in {} ms", why, options.reconnect_ms);
        pause(lock, options.reconnect_ms);
        continue;
      }
      spdlog::info("worker: joined {}:{} as worker {}", options.head_host, options.head_port, worker_id);
      changed.wait(lock, [&] { return stopping || head_lost; });
      // A pause before dialling again: CAF's middleman forgets the lost head's proxy only
      // when it hears of the loss too, and until then hands out the dead one.
      pause(lock, options.reconnect_ms);
    }
  }

  // Listen mode: serve the heads that invite us, one at a time, until stopped.
  void listen() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      changed.wait(lock, [&] { return stopping || invited_by; });
      if (stopping) break;
      auto head = invited_by;
      lock.unlock();
      std::string refusal;
      auto why = handshake(head, refusal);
      lock.lock();
      invited_by = caf::actor{};
      if (!why.empty()) {
        spdlog::warn("worker: could not join the head that invited us: {}", why);
        continue;
      }
      spdlog::info("worker: invited and joined as worker {}", worker_id);
      serving = head;
      changed.wait(lock, [&] { return stopping || head_lost; });
      serving = caf::actor{};
    }
  }

  // An invitation from a head that dialled in; "" when taken, else why not.
  std::string invited(const caf::actor& membership) {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping) return "the worker is stopping";
    // A head that keeps inviting its workers asks again: we are already its own.
    if (worker_id != 0 && !head_lost && serving == membership) return {};
    if (worker_id != 0 || invited_by) return "this worker serves another head";
    invited_by = membership;
    head_lost = false;
    changed.notify_all();
    return {};
  }

  // Listen mode's door: a head says hello (gets a challenge), then invites us with its
  // proof of the secret, so that no one else can make this worker run their scenarios.
  static caf::behavior invitation_desk(caf::event_based_actor* self, std::string secret, std::weak_ptr<state> st) {
    auto challenges = std::make_shared<std::map<caf::actor_addr, std::string>>();
    return {
        [=](hello_atom) {
          if (challenges->size() >= 64) challenges->erase(challenges->begin());
          auto c = make_cluster_challenge();
          (*challenges)[caf::actor_cast<caf::actor_addr>(self->current_sender())] = c;
          return c;
        },
        [=](invite_atom, const std::string& proof, const caf::actor& membership) -> std::string {
          auto it = challenges->find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
          if (!secret.empty()) {
            if (it == challenges->end()) return "no open challenge: say hello first";
            auto ok = proves_cluster_secret(secret, it->second, proof);
            challenges->erase(it);
            if (!ok) return "wrong cluster secret";
          }
          auto s = st.lock();
          if (!s || !membership) return "the worker is stopping";
          return s->invited(membership);
        },
    };
  }
};

Worker::Worker(Runtime& runtime, WorkerOptions options) : state_(std::make_shared<state>()) {
  if (!runtime.options().cluster)
    throw std::invalid_argument("worker: the Runtime needs RuntimeOptions::cluster = true");
  if (options.slots < 1) throw std::invalid_argument("worker: slots must be at least 1");
  if (options.listen && options.secret.empty() && options.listen_bind != "127.0.0.1" && options.listen_bind != "::1")
    throw std::invalid_argument("worker: listening on " + options.listen_bind +
                                " would let anyone on the network give this worker work; give a secret, or listen on "
                                "127.0.0.1");
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
  st.host_config = std::move(config);
  if (st.options.listen) {
    auto& sys = runtime_access::system(runtime);
    st.invitations = sys.spawn(state::invitation_desk, st.options.secret, std::weak_ptr<state>(state_));
    runtime_access::adopt(runtime, st.invitations);
    auto port = sys.middleman().publish(st.invitations, st.options.listen_port, st.options.listen_bind.c_str(), true);
    if (!port)
      throw std::runtime_error("worker: cannot listen on " + st.options.listen_bind + ":" +
                               std::to_string(st.options.listen_port) + ": " + sys.render(port.error()));
    st.listening_port = *port;
  }
  st.thread = std::thread([s = state_] {
    if (s->options.listen)
      s->listen();
    else
      s->dial();
  });
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
    if (state_->host) caf::anon_send(state_->host, stop_work_atom::value);
  }
  if (state_->invitations) caf::anon_send_exit(state_->invitations, caf::exit_reason::user_shutdown);
}

bool Worker::joined() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->worker_id != 0;
}

std::string Worker::refused() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->refused;
}

uint16_t Worker::listening_port() const { return state_->listening_port; }

uint64_t Worker::worker_id() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->worker_id;
}

}  // namespace cohort
