#pragma once
// The servers' (and a remote run's) way with stop signals: SIGINT, SIGTERM and SIGHUP are blocked in every
// thread (call this before starting any), and the main thread waits for one of them.
#include <chrono>
#include <csignal>
#include <ctime>

#include <pthread.h>

namespace cohort {

class stop_signals {
 public:
  stop_signals() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  // The signal that came.
  int wait() const {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }
  // The signal that came within `timeout`, else 0.
  int wait_for(std::chrono::milliseconds timeout) const {
    timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1000000L};
    int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig > 0 ? sig : 0;
  }

 private:
  sigset_t set_;
};

}  // namespace cohort
