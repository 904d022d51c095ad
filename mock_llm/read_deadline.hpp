#pragma once
// The deadline of a connection's read in progress: when it passes before disarm(),
// `expire` runs (on the timer's executor; it cancels the read) and timed_out() says so,
// with the phase the read was in. Arming again replaces the deadline; a stale timer
// firing late does nothing.
#include <chrono>
#include <utility>

#include <boost/asio/steady_timer.hpp>

namespace cohort::mock_llm {

// Waiting for a request's first byte (idle), or for the rest of it.
enum class read_phase { idle, request };

class read_deadline {
 public:
  template <class Executor>
  explicit read_deadline(const Executor& executor) : timer_(executor) {}

  // `expire` must keep the owner (and so this deadline) alive until it runs.
  template <class Expire>
  void arm(std::chrono::milliseconds limit, read_phase phase, Expire expire) {
    phase_ = phase;
    timed_out_ = false;
    timer_.expires_after(limit);
    timer_.async_wait([this, generation = ++generation_, expire = std::move(expire)](boost::system::error_code ec) mutable {
      if (ec || generation != generation_) return;
      timed_out_ = true;
      expire();
    });
  }

  void disarm() {
    ++generation_;
    timer_.cancel();
  }

  bool timed_out() const { return timed_out_; }
  read_phase phase() const { return phase_; }

 private:
  boost::asio::steady_timer timer_;
  unsigned generation_ = 0;
  read_phase phase_ = read_phase::idle;
  bool timed_out_ = false;
};

}  // namespace cohort::mock_llm
