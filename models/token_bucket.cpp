#include "models/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace cohort {

token_bucket::token_bucket(int64_t per_minute, int64_t now_ms) : last_ms_(now_ms) {
  if (per_minute <= 0) return;
  per_ms_ = static_cast<double>(per_minute) / 60000.0;
  capacity_ = std::max(1.0, static_cast<double>(per_minute) / 60.0);
  tokens_ = capacity_;
}

void token_bucket::refill(int64_t now_ms) {
  if (now_ms <= last_ms_) return;
  tokens_ = std::min(capacity_, tokens_ + static_cast<double>(now_ms - last_ms_) * per_ms_);
  last_ms_ = now_ms;
}

int64_t token_bucket::wait_ms(double n, int64_t now_ms) {
  if (!limited()) return 0;
  refill(now_ms);
  auto need = std::min(n, capacity_);
  if (tokens_ >= need) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((need - tokens_) / per_ms_)));
}

void token_bucket::take(double n, int64_t now_ms) {
  if (!limited()) return;
  refill(now_ms);
  tokens_ = std::min(capacity_, tokens_ - n);
}

double token_bucket::available(int64_t now_ms) {
  refill(now_ms);
  return tokens_;
}

}  // namespace cohort
