#include "node/cluster.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "messages/atoms.hpp"
#include "node/cluster_membership.hpp"
#include "node/node_options.hpp"
#include "runtime/cluster_auth.hpp"
#include "runtime/runtime_access.hpp"

namespace cohort::node {
namespace {

using cluster_tick_atom = caf::atom_constant<caf::atom("ctick")>;

caf::behavior membership(caf::event_based_actor* self, cluster_options options) {
  auto tick = std::chrono::milliseconds(std::max(50, options.heartbeat_ms / 2));
  auto logic = std::make_shared<cluster_membership>(self, std::move(options));
  self->set_down_handler([=](caf::down_msg& dm) { logic->host_down(dm); });
  self->delayed_send(self, tick, cluster_tick_atom::value);
  // The membership is published: anyone who reaches the cluster port can send it
  // anything. What only this process may ask is ignored from elsewhere (a tick from
  // outside would start another endless chain of ticks).
  auto from_self = [self] { return self->current_sender() == self->ctrl(); };
  auto from_this_node = [self] {
    const auto& sender = self->current_sender();
    return sender && sender->node() == self->node();
  };
  return {
      [=](hello_atom) { return logic->challenge(); },
      [=](join_atom, worker_info& info, const std::string& proof, const caf::actor& host) {
        return logic->join(info, proof, host);
      },
      [=](heartbeat_atom, uint64_t worker) { return logic->heartbeat(worker); },
      [=](run_spec_atom, const std::string& run_id) { return logic->spec_of(run_id); },
      [=](branch_answer& a) { logic->answered(a); },
      [=](std::vector<branch_answer>& batch) { logic->answered(batch); },
      [=](cluster_flush_atom) {
        if (from_self()) logic->flush();
      },
      [=](place_atom, placement_request& req) { logic->place(req); },
      [=](const branch_cancel& c) {
        if (from_this_node()) logic->withdraw(c);  // a stranger's would orphan a stand-in
      },
      [=](stats_atom) { return from_this_node() ? logic->status() : nlohmann::json{{"error", "not from this node"}}; },
      [=](cluster_tick_atom) {
        if (!from_self()) return;
        logic->tick();
        self->delayed_send(self, tick, cluster_tick_atom::value);
      },
  };
}

// Whether something accepts TCP connections at host:port within `ms`. CAF's own connect
// has no time limit: a host that drops packets would hold an invitation for minutes.
bool accepts_tcp(const std::string& host, uint16_t port, int ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool ok = false;
  for (auto* a = found; a && !ok; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return ok;
}

}  // namespace

cluster_head::cluster_head(Runtime& rt, cluster_options options) : rt_(rt) {
  if (options.publish && !is_loopback(options.bind) && options.secret.empty())
    throw std::invalid_argument("serve: --cluster-bind " + options.bind +
                                " would let anyone on the network join as a worker; give a secret with "
                                "--cluster-secret-env NAME, or bind 127.0.0.1");
  auto& sys = runtime_access::system(rt);
  auto bind = options.bind;
  auto port = options.port;
  auto publish = options.publish;
  secret_ = options.secret;
  options.on_worker_tools = [&rt](const std::vector<std::string>& tools) {
    runtime_access::offer_cluster_tools(rt, tools);
  };
  actor_ = sys.spawn(membership, std::move(options));
  runtime_access::set_cluster(rt, actor_);
  if (!publish) return;
  auto published = sys.middleman().publish(actor_, port, bind.c_str(), true);
  if (!published) {
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    throw std::runtime_error("serve: cannot open the cluster port " + bind + ":" + std::to_string(port) + ": " +
                             sys.render(published.error()));
  }
  port_ = *published;
}

std::string cluster_head::invite(const std::string& host, uint16_t port) {
  auto& sys = runtime_access::system(rt_);
  auto where = host + ":" + std::to_string(port);
  if (!accepts_tcp(host, port, 2000))
    return "cannot reach the worker " + where + " (connection refused, or not answered within 2 s)";
  auto worker = sys.middleman().remote_actor(host, port);
  if (!worker) return "cannot reach the worker " + where + ": " + sys.render(worker.error());
  caf::scoped_actor self{sys};
  std::string failed, challenge, answer;
  self->request(*worker, std::chrono::seconds(5), hello_atom::value)
      .receive([&](std::string& c) { challenge = std::move(c); },
               [&](caf::error& e) { failed = "the worker " + where + " did not answer: " + sys.render(e); });
  if (!failed.empty()) return failed;
  auto proof = secret_.empty() ? std::string{} : prove_cluster_secret(secret_, challenge);
  self->request(*worker, std::chrono::seconds(5), invite_atom::value, proof, actor_)
      .receive([&](std::string& why) { answer = std::move(why); },
               [&](caf::error& e) { answer = "the worker did not answer the invitation: " + sys.render(e); });
  if (answer.empty()) return answer;
  // The worker's words, shown in logs and GET /v1/cluster: bounded, one printable line.
  answer = answer.substr(0, 300);
  for (auto& ch : answer)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  return "the worker " + where + " refused: " + answer;
}

size_t cluster_head::wait_for_workers(size_t n, int timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t joined = 0;
  for (;;) {
    auto s = status();
    joined = s.contains("workers") ? s["workers"].size() : 0;
    if (joined >= n || std::chrono::steady_clock::now() >= until) return joined;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void cluster_head::keep_inviting(std::vector<worker_address> workers, int every_ms) {
  invitations_ = std::make_unique<standing_invitations>(
      std::move(workers), [this](const std::string& host, uint16_t port) { return invite(host, port); }, every_ms);
}

cluster_head::~cluster_head() {
  invitations_.reset();  // no invitation in flight while the membership ends
  runtime_access::set_cluster(rt_, caf::actor{});
  auto& sys = runtime_access::system(rt_);
  if (port_ != 0) sys.middleman().unpublish(actor_, port_);
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
}

nlohmann::json cluster_head::status() {
  auto out = nlohmann::json::object();
  caf::scoped_actor self{runtime_access::system(rt_)};
  self->request(actor_, std::chrono::seconds(2), stats_atom::value)
      .receive([&](nlohmann::json& s) { out = std::move(s); },
               [&](caf::error& e) {
                 out = {{"error", runtime_access::system(rt_).render(e)}};
               });
  out["port"] = port_;
  if (invitations_) out["invited"] = invitations_->describe();
  return out;
}

}  // namespace cohort::node
