// The model pool's policy pieces on a fake clock: the token bucket (rpm/tpm) and the
// circuit breaker (closed -> open -> half-open -> closed or open again).
#include <gtest/gtest.h>

#include "models/circuit_breaker.hpp"
#include "models/token_bucket.hpp"

using cohort::circuit_breaker;
using cohort::token_bucket;

TEST(TokenBucket, UnlimitedNeverWaits) {
  token_bucket b(0, 0);
  EXPECT_FALSE(b.limited());
  for (int i = 0; i < 1000; ++i) b.take(1000, 0);
  EXPECT_EQ(b.wait_ms(1e9, 0), 0);
}

TEST(TokenBucket, BurstOfOneSecondThenTheRate) {
  token_bucket b(600, 0);  // 10 a second, bursts of 10
  EXPECT_DOUBLE_EQ(b.capacity(), 10);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(b.wait_ms(1, 0), 0) << i;
    b.take(1, 0);
  }
  EXPECT_EQ(b.wait_ms(1, 0), 100);
  EXPECT_EQ(b.wait_ms(1, 50), 50);
  EXPECT_EQ(b.wait_ms(1, 100), 0);
  b.take(1, 100);
  // A long quiet spell refills only up to the burst.
  EXPECT_NEAR(b.available(60000), 10.0, 1e-9);
}

TEST(TokenBucket, LargeRequestsWaitForAFullBucketAndLeaveADebt) {
  token_bucket b(6000, 0);  // 100 tokens a second, holds 100
  b.take(30, 0);
  EXPECT_EQ(b.wait_ms(500, 0), 300);  // more than it holds: waits until full
  b.take(500, 300);                   // then goes 400 into debt
  EXPECT_NEAR(b.available(300), -400, 1e-9);
  EXPECT_EQ(b.wait_ms(1, 300), 4010);
}

TEST(TokenBucket, GivingBackStopsAtCapacity) {
  token_bucket b(6000, 0);
  b.take(80, 0);
  b.take(-50, 0);  // the real cost was 30
  EXPECT_NEAR(b.available(0), 70, 1e-9);
  b.take(-500, 0);
  EXPECT_NEAR(b.available(0), 100, 1e-9);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  circuit_breaker br(3, 1000);
  br.failed(false, 0);
  br.failed(false, 0);
  br.succeeded(false);  // resets the count
  br.failed(false, 0);
  br.failed(false, 0);
  EXPECT_EQ(br.current(), circuit_breaker::state::closed);
  br.failed(false, 10);
  EXPECT_EQ(br.current(), circuit_breaker::state::open);
  EXPECT_EQ(br.times_opened(), 1);
  EXPECT_FALSE(br.allows(500));
  EXPECT_FALSE(br.allows(1009));
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAndItDecides) {
  circuit_breaker br(2, 1000);
  br.failed(false, 0);
  br.failed(false, 0);
  ASSERT_EQ(br.current(), circuit_breaker::state::open);
  // Late answers to requests sent before it opened prove nothing.
  br.succeeded(false);
  EXPECT_EQ(br.current(), circuit_breaker::state::open);

  ASSERT_TRUE(br.allows(1000));
  EXPECT_EQ(br.current(), circuit_breaker::state::half_open);
  EXPECT_TRUE(br.sent());
  EXPECT_FALSE(br.allows(1001)) << "one probe at a time";
  br.failed(true, 1100);  // the probe failed: open again, for open_ms from now
  EXPECT_EQ(br.current(), circuit_breaker::state::open);
  EXPECT_EQ(br.times_opened(), 2);
  EXPECT_FALSE(br.allows(2000));

  ASSERT_TRUE(br.allows(2100));
  EXPECT_TRUE(br.sent());
  br.succeeded(true);
  EXPECT_EQ(br.current(), circuit_breaker::state::closed);
  EXPECT_EQ(br.probes(), 2);
  EXPECT_TRUE(br.allows(2101));
  EXPECT_FALSE(br.sent()) << "closed: no probe";
}

TEST(CircuitBreaker, AWithdrawnProbeLetsAnotherGo) {
  circuit_breaker br(1, 100);
  br.failed(false, 0);
  ASSERT_TRUE(br.allows(100));
  ASSERT_TRUE(br.sent());
  EXPECT_FALSE(br.allows(100));
  br.probe_abandoned();
  EXPECT_TRUE(br.allows(100));
}
