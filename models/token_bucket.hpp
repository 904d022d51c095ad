#pragma once
// A token bucket for one rate limit (requests or tokens per minute): tokens flow in
// evenly and the bucket holds one second's worth, so a burst after a quiet spell
// stays small. Time is passed in (milliseconds on a steady clock), which keeps it
// free of timers and easy to test; the model pool sets the timers.
#include <cstdint>

namespace cohort {

class token_bucket {
 public:
  // per_minute <= 0: unlimited. The bucket starts full.
  explicit token_bucket(int64_t per_minute = 0, int64_t now_ms = 0);

  bool limited() const { return per_ms_ > 0; }
  // Milliseconds until `n` tokens are there (0: now). More than the bucket holds
  // waits for a full bucket, so one large request cannot block forever.
  int64_t wait_ms(double n, int64_t now_ms);
  // Takes `n` tokens; the balance may go below zero, so later requests wait longer.
  // A negative `n` gives back what was taken in advance (the real cost was lower).
  void take(double n, int64_t now_ms);
  // Tokens there now (may be negative).
  double available(int64_t now_ms);
  double capacity() const { return capacity_; }

 private:
  void refill(int64_t now_ms);

  double per_ms_ = 0;
  double capacity_ = 0;
  double tokens_ = 0;
  int64_t last_ms_ = 0;
};

}  // namespace cohort
