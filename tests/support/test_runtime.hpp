#pragma once
// Runtime options for tests: two scheduler threads (the CI machine has two cores) and a
// run timeout that ends a stuck test instead of hanging it.
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "cohort/runtime.hpp"

namespace cohort::testing {

inline RuntimeOptions test_options(int run_timeout_ms = 60000) {
  auto o = RuntimeOptions::defaults();
  o.scheduler_threads = 2;
  o.run_timeout_ms = run_timeout_ms;
  return o;
}

// A runtime that can head a cluster or join one as a worker (docs/cluster.md).
inline RuntimeOptions cluster_test_options() {
  auto o = test_options();
  o.cluster = true;
  return o;
}

// Polls `done` every 5 ms for at most `timeout_ms`; its last answer.
inline bool wait_until(const std::function<bool()>& done, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms && !done(); waited += 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

// Whether `text` holds `part` (for messages and outputs).
inline bool has_text(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What loading `doc` reports: the problems it names, or "" if it loaded.
inline std::string load_problems(const Runtime& rt, const nlohmann::json& doc) {
  try {
    rt.load(doc);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// The live actor count once the actors of earlier runs have ended: a run's result can
// arrive a moment before its last actors are gone. Stable for 50 ms, or after 2 s.
inline size_t quiet_live_actors(const Runtime& rt) {
  auto last = rt.live_actors();
  for (int stable_ms = 0, waited_ms = 0; stable_ms < 50 && waited_ms < 2000; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto now = rt.live_actors();
    stable_ms = now == last ? stable_ms + 10 : 0;
    last = now;
  }
  return last;
}

}  // namespace cohort::testing
