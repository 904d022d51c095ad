#pragma once
// The circuit breaker of one endpoint: closed until `failures` consecutive failures,
// then open (no requests) for `open_ms`, then half-open: one request goes as a probe;
// its success closes the breaker, its failure opens it again. Time is passed in
// (steady milliseconds), so the logic is testable without clocks.
#include <cstdint>

namespace cohort {

class circuit_breaker {
 public:
  enum class state { closed, open, half_open };

  explicit circuit_breaker(int failures = 5, int64_t open_ms = 2000) : threshold_(failures), open_ms_(open_ms) {}

  // May a request go now? Turns an open breaker half-open once open_ms has passed;
  // half-open lets a single probe through at a time.
  bool allows(int64_t now_ms);
  // A request went; returns whether it is the half-open probe.
  bool sent();
  // The outcome of a request; a probe's outcome decides the half-open state, other
  // outcomes only count while closed (answers to requests sent before it opened
  // prove nothing about now).
  void succeeded(bool probe);
  void failed(bool probe, int64_t now_ms);
  // The probe was withdrawn (cancelled): another request may probe.
  void probe_abandoned();

  state current() const { return state_; }
  // When an open breaker turns half-open.
  int64_t reopens_at() const { return opened_at_ + open_ms_; }
  int64_t times_opened() const { return times_opened_; }
  int64_t probes() const { return probes_; }

 private:
  void open(int64_t now_ms);

  int threshold_;
  int64_t open_ms_;
  state state_ = state::closed;
  int consecutive_ = 0;
  int64_t opened_at_ = 0;
  bool probe_out_ = false;
  int64_t times_opened_ = 0;
  int64_t probes_ = 0;
};

const char* to_string(circuit_breaker::state s);

}  // namespace cohort
