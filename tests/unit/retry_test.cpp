// Retry rules without a runtime: which errors are tried again, and how long to wait.
#include <gtest/gtest.h>

#include "workflow/retry.hpp"

namespace cohort {
namespace {

error_info error(std::string kind, int64_t retry_after_ms = -1) { return {std::move(kind), "x", retry_after_ms}; }

TEST(RetryUnit, ErrorKindsFallIntoTheNamedClasses) {
  EXPECT_EQ(retry_class("model_error"), "server_error");
  EXPECT_EQ(retry_class("malformed_response"), "server_error");
  EXPECT_EQ(retry_class("connection_reset"), "connection");
  EXPECT_EQ(retry_class("timeout"), "timeout");
  EXPECT_EQ(retry_class("tool_error"), "");
  EXPECT_EQ(retry_class("invalid_input"), "");
}

TEST(RetryUnit, OnlyListedClassesAndOnlyUpToMaxAttempts) {
  retry_policy p;
  p.max_attempts = 3;
  p.on = {"timeout"};
  EXPECT_TRUE(retries(p, 1, error("timeout")));
  EXPECT_TRUE(retries(p, 2, error("timeout")));
  EXPECT_FALSE(retries(p, 3, error("timeout")));
  EXPECT_FALSE(retries(p, 1, error("server_error")));
  EXPECT_FALSE(retries(retry_policy{}, 1, error("timeout")));  // max_attempts 1: never
}

TEST(RetryUnit, BackoffIsFullJitterUnderTheDoublingCeiling) {
  retry_policy p;
  p.backoff_ms = 100;
  p.max_backoff_ms = 1000;
  int64_t highest[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 2000; ++i)
    for (int retry = 1; retry <= 5; ++retry) {
      auto ms = backoff_ms(p, retry, error("timeout"));
      ASSERT_GE(ms, 0);
      highest[retry - 1] = std::max(highest[retry - 1], ms);
    }
  // Ceilings 100, 200, 400, 800, then capped at 1000; 2000 draws come close to each.
  int64_t ceiling[5] = {100, 200, 400, 800, 1000};
  for (int k = 0; k < 5; ++k) {
    EXPECT_LE(highest[k], ceiling[k]) << "retry " << k + 1;
    EXPECT_GT(highest[k], ceiling[k] * 8 / 10) << "retry " << k + 1;
  }
}

TEST(RetryUnit, ARateLimitsRetryAfterWinsWithinAnHour) {
  retry_policy p;
  EXPECT_EQ(backoff_ms(p, 1, error("rate_limited", 2500)), 2500);
  EXPECT_EQ(backoff_ms(p, 1, error("rate_limited", int64_t{1} << 50)), 3600 * 1000);
  EXPECT_LE(backoff_ms(p, 1, error("rate_limited", -1)), p.backoff_ms);  // no header: jitter
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// A branch whose worker died runs again whatever its max_attempts, a bounded number of
// times, at once, unless its retry_on leaves node_lost out.
TEST(RetryUnit, ALostWorkersBranchRunsAgainAtOnceAFewTimes) {
  retry_policy none;  // the default: one attempt, node_lost among the classes
  EXPECT_TRUE(retries_lost(none, 0));
  EXPECT_TRUE(retries_lost(none, node_lost_retries - 1));
  EXPECT_FALSE(retries_lost(none, node_lost_retries));
  EXPECT_FALSE(retries(none, 1, error_info{"node_lost", "gone", -1})) << "the attempt budget is not what decides";
  EXPECT_EQ(backoff_ms(none, 1, error_info{"node_lost", "gone", -1}), 0);
  retry_policy narrow;
  narrow.on = {"timeout"};
  EXPECT_FALSE(retries_lost(narrow, 0));
  EXPECT_EQ(retry_class("node_lost"), "node_lost");
}

}  // namespace
}  // namespace cohort
