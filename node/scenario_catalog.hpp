#pragma once
// The scenarios a client may name (--scenarios DIR, PUT /v1/scenarios/NAME): submitted by
// name, and served as A2A agents. Thread-safe.
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort::node {

class scenario_catalog {
 public:
  void add(const std::string& name, nlohmann::json doc) {
    std::lock_guard<std::mutex> lock(mutex_);
    docs_[name] = std::move(doc);
  }
  // {"scenarios": [names]}
  nlohmann::json names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto list = nlohmann::json::array();
    for (const auto& [name, doc] : docs_) list.push_back(name);
    return {{"scenarios", list}};
  }
  // The document; null when there is none.
  nlohmann::json find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = docs_.find(name);
    return it == docs_.end() ? nlohmann::json() : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> docs_;
};

}  // namespace cohort::node
