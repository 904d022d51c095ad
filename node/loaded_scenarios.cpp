#include "node/loaded_scenarios.hpp"

namespace cohort::node {

std::string loaded_scenarios::key_of(const nlohmann::json& doc) {
  auto text = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.size() <= max_doc_bytes ? text : std::string();
}

std::optional<Scenario> loaded_scenarios::find(const std::string& key) {
  if (key.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  recent_.splice(recent_.begin(), recent_, it->second);
  return it->second->second;
}

void loaded_scenarios::keep(const std::string& key, const Scenario& scenario) {
  if (key.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (by_key_.count(key)) return;  // loaded twice at once: the first one stays
  recent_.emplace_front(key, scenario);
  by_key_.emplace(key, recent_.begin());
  if (recent_.size() > max_entries) {
    by_key_.erase(recent_.back().first);
    recent_.pop_back();
  }
}

size_t loaded_scenarios::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return recent_.size();
}

}  // namespace cohort::node
