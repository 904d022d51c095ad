// A head's standing invitations, without CAF or processes: every worker is invited at
// start and every round after, so one that comes back is taken again; what each last
// answered is reported.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "node/standing_invitations.hpp"

namespace cohort::node {
namespace {

// Workers that answer as `answers` says at the moment (absent: unreachable).
class answering_workers {
 public:
  void set(const std::string& address, const std::string& answer) {
    std::lock_guard<std::mutex> lock(mutex_);
    answers_[address] = answer;
  }
  std::string invite(const std::string& host, uint16_t port) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto address = host + ":" + std::to_string(port);
    ++asked_[address];
    auto it = answers_.find(address);
    return it == answers_.end() ? "cannot reach the worker " + address : it->second;
  }
  int asked(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    return asked_[address];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> answers_;
  std::map<std::string, int> asked_;
};

// Polls `done` for up to two seconds.
bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(StandingInvitations, EveryWorkerIsInvitedEachRoundAndOneThatComesBackIsTaken) {
  answering_workers workers;
  workers.set("10.0.0.1:7000", "");
  standing_invitations inv({{"10.0.0.1", 7000}, {"10.0.0.2", 7000}},
                           [&](const std::string& h, uint16_t p) { return workers.invite(h, p); }, 20);
  ASSERT_TRUE(eventually([&] { return workers.asked("10.0.0.2:7000") >= 3; })) << "the absent one is asked again";
  auto d = inv.describe();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0]["address"], "10.0.0.1:7000");
  EXPECT_EQ(d[0]["accepted"], true);
  EXPECT_EQ(d[1]["accepted"], false);
  EXPECT_EQ(d[1]["answer"], "cannot reach the worker 10.0.0.2:7000");
  EXPECT_GE(workers.asked("10.0.0.1:7000"), 3) << "a member is asked too: it takes the repeat as a no-op";

  workers.set("10.0.0.2:7000", "");  // it comes back
  ASSERT_TRUE(eventually([&] { return inv.describe()[1]["accepted"] == true; })) << inv.describe();
}

TEST(StandingInvitations, StoppingWaitsForTheInvitationInProgressOnly) {
  std::atomic<int> calls{0};
  auto started = std::chrono::steady_clock::now();
  {
    standing_invitations inv({{"h", 1}},
                             [&](const std::string&, uint16_t) {
                               ++calls;
                               std::this_thread::sleep_for(std::chrono::milliseconds(50));
                               return std::string{};
                             },
                             60000);
    ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  }  // a round every minute: stopping must not wait for the next one
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace cohort::node
