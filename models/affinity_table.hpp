#pragma once
// Which endpoint a model's calls with one affinity key (a run, or a run's agent) used
// last, so the pool keeps them there while it can.
#include <cstddef>
#include <string>
#include <unordered_map>

namespace cohort {

// Affinity key -> the endpoint it used last. Two generations make an approximate LRU:
// keys of finished runs age out, and the table stays bounded.
class affinity_table {
 public:
  int find(const std::string& key) {
    if (auto it = recent_.find(key); it != recent_.end()) return it->second;
    if (auto it = older_.find(key); it != older_.end()) {
      auto endpoint = it->second;
      remember(key, endpoint);
      return endpoint;
    }
    return -1;
  }
  void remember(const std::string& key, int endpoint) {
    recent_[key] = endpoint;
    if (recent_.size() < generation_size) return;
    older_ = std::move(recent_);
    recent_.clear();
  }

 private:
  static constexpr size_t generation_size = 4096;
  std::unordered_map<std::string, int> recent_, older_;
};

}  // namespace cohort
