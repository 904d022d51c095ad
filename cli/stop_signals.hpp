#pragma once
// The servers' way with stop signals: SIGINT, SIGTERM and SIGHUP are blocked in every
// thread (call this before starting any), and the main thread waits for one of them.
#include <csignal>

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

 private:
  sigset_t set_;
};

}  // namespace cohort
