#include "node/cluster_membership.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "runtime/cluster_auth.hpp"
#include "run/run_events.hpp"
#include "spec/tool_uses.hpp"

namespace cohort::node {
namespace {

constexpr int64_t challenge_life_ms = 10000;
constexpr size_t max_open_challenges = 256;
constexpr int32_t max_slots = 100000;
constexpr size_t max_text = 256;
constexpr size_t max_labels = 64;
constexpr size_t max_tools = 10000;

}  // namespace

cluster_membership::cluster_membership(caf::event_based_actor* self, cluster_options options)
    : self_(self), options_(std::move(options)) {}

std::string cluster_membership::challenge() {
  auto now = now_ms();
  for (auto it = challenges_.begin(); it != challenges_.end();)
    it = it->second.expires_ms < now ? challenges_.erase(it) : std::next(it);
  if (challenges_.size() >= max_open_challenges) challenges_.erase(challenges_.begin());
  auto text = make_cluster_challenge();
  challenges_[caf::actor_cast<caf::actor_addr>(self_->current_sender())] = {text, now + challenge_life_ms};
  return text;
}

// What is wrong with a worker that asks to join, or "" when nothing is.
std::string cluster_membership::refusal(const worker_info& info, const std::string& proof) {
  if (info.protocol != cluster_protocol)
    return "the worker speaks cluster protocol " + std::to_string(info.protocol) + ", this head " +
           std::to_string(cluster_protocol);
  if (info.version != cohort_version_text)
    return "the worker is cohort " + info.version.substr(0, max_text) + ", this head " + cohort_version_text;
  if (info.slots < 1 || info.slots > max_slots) return "slots must be 1.." + std::to_string(max_slots);
  if (info.name.size() > max_text || info.labels.size() > max_labels || info.tools.size() > max_tools)
    return "the worker's name, labels or tools are too large";
  for (const auto& [k, v] : info.labels)
    if (k.size() > max_text || v.size() > max_text) return "a label is longer than " + std::to_string(max_text);
  if (options_.secret.empty()) return {};
  auto it = challenges_.find(caf::actor_cast<caf::actor_addr>(self_->current_sender()));
  if (it == challenges_.end() || it->second.expires_ms < now_ms()) return "no open challenge: say hello first";
  auto expected = it->second.text;
  challenges_.erase(it);  // one try per challenge
  if (!proves_cluster_secret(options_.secret, expected, proof)) return "wrong cluster secret";
  return {};
}

worker_welcome cluster_membership::join(worker_info& info, const std::string& proof, const caf::actor& host) {
  worker_welcome w;
  w.heartbeat_ms = options_.heartbeat_ms;
  w.refused = host ? refusal(info, proof) : "no worker actor given";
  if (!w.refused.empty()) {
    ++refused_joins_;
    spdlog::warn("cluster: refused worker {}: {}", info.name.substr(0, max_text), w.refused);
    return w;
  }
  if (options_.on_worker_tools) options_.on_worker_tools(info.tools);
  w.worker_id = table_.add(info, now_ms());
  hosts_[w.worker_id] = host;
  self_->monitor(host);
  spdlog::info("cluster: worker {} joined as {} ({} slots)", info.name, w.worker_id, info.slots);
  pump(true);
  return w;
}

// Whether the message being handled comes from `worker`'s own host: a worker that knows
// the secret still speaks only for itself (its beats, its answers), whatever id it claims.
bool cluster_membership::from_host_of(uint64_t worker) const {
  auto host = hosts_.find(worker);
  return host != hosts_.end() && caf::actor_cast<caf::actor_addr>(self_->current_sender()) == host->second.address();
}

bool cluster_membership::heartbeat(uint64_t worker) {
  if (!table_.has(worker) || !from_host_of(worker)) return false;  // declared lost (or not its own): join again
  table_.heard_from(worker, now_ms());
  return true;
}

void cluster_membership::place(placement_request& req) {
  runs_.emplace(req.ctx->run_id, req.ctx);
  if (!queue_.empty()) {  // first come, first placed
    queue_.push_back(std::move(req));
    return;
  }
  auto c = choose(req);
  if (c.what == placement_table::verdict::wait)
    queue_.push_back(std::move(req));
  else
    act(req, c);
}

placement_table::choice cluster_membership::choose(const placement_request& req) {
  const auto& agent = *req.agent;
  bool head_can = agent.type != agent_type::tool || req.ctx->tools->count(agent.tool) > 0;
  return table_.choose(agent, *req.where, req.ctx->spec->placement, head_can);
}

void cluster_membership::act(placement_request& req, const placement_table::choice& c) {
  switch (c.what) {
    case placement_table::verdict::placed: {
      in_flight_[req.request_id] = {c.worker, req.requester, req.work.path};
      table_.started(c.worker);
      ++placed_;
      // Orders leave in one batch per worker when the flush comes up (fewer network messages under load).
      orders_out_[c.worker].push_back(branch_order{req.request_id, req.ctx->run_id, req.agent->name, req.work});
      if (!flush_scheduled_) {
        flush_scheduled_ = true;
        self_->send(self_, cluster_flush_atom::value);
      }
      break;
    }
    case placement_table::verdict::here:
      ++ran_here_;
      self_->send(req.requester, run_here_atom::value, req.request_id);
      break;
    case placement_table::verdict::refuse:
      ++refused_;
      self_->send(req.requester, branch_answer{req.request_id, 0,
                                               failure(outcome::failed, "placement", req.work.path + ": " + c.why)});
      break;
    case placement_table::verdict::wait:
      break;
  }
}

// Queued branches go where there is room now. `full`: look at every one (the workers
// changed); else stop once no worker has a free slot.
void cluster_membership::pump(bool full) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!full && table_.size() > 0 && !table_.any_free()) break;
    auto c = choose(*it);
    if (c.what == placement_table::verdict::wait) {
      ++it;
      continue;
    }
    auto req = std::move(*it);
    it = queue_.erase(it);
    act(req, c);
  }
}

void cluster_membership::flush() {
  flush_scheduled_ = false;
  for (auto& [worker, orders] : orders_out_)
    if (auto host = hosts_.find(worker); host != hosts_.end() && !orders.empty())
      self_->send(host->second, std::move(orders));
  orders_out_.clear();
}

void cluster_membership::answered(std::vector<branch_answer>& batch) {
  for (auto& a : batch) answered(a);
}

void cluster_membership::answered(branch_answer& a) {
  auto it = in_flight_.find(a.request_id);
  if (it == in_flight_.end() || it->second.worker != a.worker_id || !from_host_of(a.worker_id)) {
    ++late_answers_;  // its worker was declared lost, or it is not that worker's to answer
    return;
  }
  table_.finished(it->second.worker);
  ++answered_;
  if (it->second.requester) self_->send(it->second.requester, std::move(a));
  in_flight_.erase(it);
  pump(false);
}

void cluster_membership::withdraw(const branch_cancel& c) {
  if (auto it = in_flight_.find(c.request_id); it != in_flight_.end()) {
    it->second.requester = caf::actor{};  // its slot is busy until the worker answers
    flush();                              // its order first: a cancel must not overtake it
    self_->send(hosts_.at(it->second.worker), c);
    return;
  }
  for (auto it = queue_.begin(); it != queue_.end(); ++it)
    if (it->request_id == c.request_id) {
      queue_.erase(it);
      return;
    }
}

run_spec cluster_membership::spec_of(const std::string& run_id) {
  run_spec out;
  // Anyone can reach the cluster port before joining: a run's scenario and input go only
  // to a joined worker's host.
  auto sender = caf::actor_cast<caf::actor_addr>(self_->current_sender());
  bool member = false;
  for (const auto& [id, host] : hosts_) member = member || host.address() == sender;
  if (!member) return out;
  auto it = runs_.find(run_id);
  auto ctx = it == runs_.end() ? nullptr : it->second.lock();
  if (!ctx || !ctx->spec->source) return out;  // ended: the worker fails the branch
  out.run_id = run_id;
  out.scenario = *ctx->spec->source;
  if (auto lists = detail::listed_mcp_tools(*ctx->spec); !lists.empty())
    out.scenario[detail::head_mcp_tools_key] = std::move(lists);
  out.input = *ctx->input;
  for (const auto& kv : *ctx->tools) out.tool_names.push_back(kv.first);
  out.default_timeout_ms = ctx->default_timeout_ms;
  out.all_events = ctx->all_events;
  out.events = ctx->events;
  for (const auto& [alias, model] : ctx->spec->models)
    if (model.via_head && ctx->models.count(alias)) out.head_models[alias] = ctx->models.at(alias);
  return out;
}

void cluster_membership::tick() {
  auto now = now_ms();
  for (auto id : table_.silent_since(now - options_.lost_after_ms))
    lose(id, "no heartbeat for " + std::to_string(options_.lost_after_ms) + " ms");
  for (auto it = runs_.begin(); it != runs_.end();) it = it->second.expired() ? runs_.erase(it) : std::next(it);
}

void cluster_membership::host_down(const caf::down_msg& dm) {
  for (const auto& [id, host] : hosts_)
    if (host.address() == dm.source) {
      lose(id, "its connection went down (" + self_->system().render(dm.reason) + ")");
      return;
    }
}

void cluster_membership::lose(uint64_t worker, const std::string& why) {
  const auto* w = table_.find(worker);
  if (!w) return;
  auto name = w->info.name;
  int64_t lost = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.worker != worker) {
      ++it;
      continue;
    }
    if (it->second.requester)
      self_->send(it->second.requester,
                  branch_answer{it->first, worker,
                                failure(outcome::failed, "node_lost",
                                        it->second.path + ": worker " + name + " was lost: " + why)});
    ++lost;
    it = in_flight_.erase(it);
  }
  ++lost_workers_;
  lost_branches_ += lost;
  orders_out_.erase(worker);
  spdlog::warn("cluster: worker {} ({}) lost with {} branch(es) in flight: {}", name, worker, lost, why);
  if (auto h = hosts_.find(worker); h != hosts_.end()) {
    self_->demonitor(h->second);
    hosts_.erase(h);
  }
  table_.remove(worker);
  pump(true);
}

nlohmann::json cluster_membership::status() {
  return {{"port", options_.port},
          {"workers", table_.describe(now_ms())},
          {"queued", queue_.size()},
          {"in_flight", in_flight_.size()},
          {"placed", placed_},
          {"answered", answered_},
          {"ran_on_head", ran_here_},
          {"refused_placements", refused_},
          {"lost_workers", lost_workers_},
          {"lost_branches", lost_branches_},
          {"late_answers_dropped", late_answers_},
          {"refused_joins", refused_joins_}};
}

}  // namespace cohort::node
