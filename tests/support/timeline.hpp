#pragma once
// The events of a run, by node path: when each branch started and finished, and the
// leaf agents' start/finish edges (for how many ran at once).
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cohort/runtime.hpp"

namespace cohort::testing {

struct Timeline {
  std::mutex m;
  std::map<std::string, int64_t> started, finished;
  std::vector<std::pair<int64_t, int>> leaf_edges;  // (at, +1 started / -1 finished)
  std::vector<Event> events;                          // all, in arrival order

  EventHandler handler() {
    return [this](const Event& e) {
      std::lock_guard<std::mutex> lock(m);
      if (e.kind == "started") started[e.path] = e.at_ms;
      if (e.kind == "finished") finished[e.path] = e.at_ms;
      if (e.leaf) leaf_edges.push_back({e.at_ms, e.kind == "started" ? +1 : -1});
      events.push_back(e);
    };
  }

  // The most leaf agents in flight at once.
  int most_in_flight() {
    std::lock_guard<std::mutex> lock(m);
    auto edges = leaf_edges;
    std::sort(edges.begin(), edges.end());  // at the same ms, finishes (-1) first
    int in_flight = 0, most = 0;
    for (auto& e : edges) most = std::max(most, in_flight += e.second);
    return most;
  }
};

}  // namespace cohort::testing
