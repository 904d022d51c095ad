#include "node/placement_table.hpp"

#include <nlohmann/json.hpp>

namespace cohort::node {

uint64_t placement_table::add(worker_info info, int64_t now_ms) {
  worker_entry w;
  w.id = next_id_++;
  w.tools.insert(info.tools.begin(), info.tools.end());
  w.info = std::move(info);
  w.joined_ms = w.last_heartbeat_ms = now_ms;
  auto id = w.id;
  workers_.emplace(id, std::move(w));
  return id;
}

void placement_table::remove(uint64_t id) { workers_.erase(id); }

bool placement_table::suits(const worker_entry& w, const agent_def& agent, const placement_rule& where) const {
  for (const auto& [key, value] : where.labels) {
    auto it = w.info.labels.find(key);
    if (it == w.info.labels.end() || it->second != value) return false;
  }
  return agent.type != agent_type::tool || w.tools.count(agent.tool) > 0;
}

placement_table::choice placement_table::choose(const agent_def& agent, const placement_rule& where,
                                                placement_policy policy, bool head_can) {
  const worker_entry* best = nullptr;
  bool any_suits = false;
  // round_robin: the first free one after the last chosen, in id order, wrapping.
  const worker_entry* first_free = nullptr;
  for (const auto& [id, w] : workers_) {
    if (!suits(w, agent, where)) continue;
    any_suits = true;
    if (w.busy >= w.info.slots) continue;
    if (policy == placement_policy::round_robin) {
      if (!first_free) first_free = &w;
      if (!best && id > last_turn_) best = &w;
    } else if (!best || w.info.slots - w.busy > best->info.slots - best->busy) {
      best = &w;
    }
  }
  if (policy == placement_policy::round_robin && !best) best = first_free;
  if (best) {
    last_turn_ = best->id;
    return {verdict::placed, best->id, {}};
  }
  if (any_suits) return {verdict::wait, 0, {}};
  // "any": the head has every tool and model of the run, and takes what no worker can.
  if (where.kind != placement_rule::where::labels && head_can) return {verdict::here, 0, {}};
  std::string want;
  for (const auto& [key, value] : where.labels) want += (want.empty() ? "" : ",") + key + "=" + value;
  if (agent.type == agent_type::tool) want += std::string(want.empty() ? "" : " and ") + "tool " + agent.tool;
  return {verdict::refuse, 0, "no worker of this node has " + want};
}

void placement_table::started(uint64_t id) {
  if (auto it = workers_.find(id); it != workers_.end()) ++it->second.busy;
}

void placement_table::finished(uint64_t id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  if (it->second.busy > 0) --it->second.busy;
  ++it->second.done;
}

bool placement_table::any_free() const {
  for (const auto& [id, w] : workers_)
    if (w.busy < w.info.slots) return true;
  return false;
}

void placement_table::heard_from(uint64_t id, int64_t now_ms) {
  if (auto it = workers_.find(id); it != workers_.end()) it->second.last_heartbeat_ms = now_ms;
}

std::vector<uint64_t> placement_table::silent_since(int64_t since_ms) const {
  std::vector<uint64_t> out;
  for (const auto& [id, w] : workers_)
    if (w.last_heartbeat_ms < since_ms) out.push_back(id);
  return out;
}

const worker_entry* placement_table::find(uint64_t id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

nlohmann::json placement_table::describe(int64_t now_ms) const {
  auto out = nlohmann::json::array();
  for (const auto& [id, w] : workers_)
    out.push_back({{"id", id},
                   {"name", w.info.name},
                   {"version", w.info.version},
                   {"labels", w.info.labels},
                   {"tools", w.info.tools},
                   {"slots", w.info.slots},
                   {"busy", w.busy},
                   {"done", w.done},
                   {"joined_ms_ago", now_ms - w.joined_ms},
                   {"last_heartbeat_ms_ago", now_ms - w.last_heartbeat_ms}});
  return out;
}

}  // namespace cohort::node
