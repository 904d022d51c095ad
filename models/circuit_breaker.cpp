#include "models/circuit_breaker.hpp"

namespace cohort {

bool circuit_breaker::allows(int64_t now_ms) {
  if (state_ == state::open && now_ms >= reopens_at()) {
    state_ = state::half_open;
    probe_out_ = false;
  }
  switch (state_) {
    case state::closed: return true;
    case state::open: return false;
    case state::half_open: return !probe_out_;
  }
  return false;
}

bool circuit_breaker::sent() {
  if (state_ != state::half_open) return false;
  probe_out_ = true;
  ++probes_;
  return true;
}

void circuit_breaker::succeeded(bool probe) {
  if (probe && state_ == state::half_open) {
    state_ = state::closed;
    probe_out_ = false;
  }
  if (state_ == state::closed) consecutive_ = 0;
}

void circuit_breaker::failed(bool probe, int64_t now_ms) {
  if (probe && state_ == state::half_open) return open(now_ms);
  if (state_ == state::closed && ++consecutive_ >= threshold_) open(now_ms);
}

void circuit_breaker::probe_abandoned() {
  if (state_ == state::half_open) probe_out_ = false;
}

void circuit_breaker::open(int64_t now_ms) {
  state_ = state::open;
  opened_at_ = now_ms;
  consecutive_ = 0;
  probe_out_ = false;
  ++times_opened_;
}

const char* to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed: return "closed";
    case circuit_breaker::state::open: return "open";
    case circuit_breaker::state::half_open: return "half_open";
  }
  return "unknown";
}

}  // namespace cohort
