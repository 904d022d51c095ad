// A worker cut off mid-run, for real: it runs in a network namespace this test makes,
// joined to the head over a veth pair, and the test takes the link down while the
// worker has branches in flight. Nothing closes the socket, so only heartbeats can tell.
// Needs root (and iproute2); skipped with a message otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/process.hpp"

namespace cohort::testing {
namespace {

using json = nlohmann::json;

int sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// A namespace and a veth pair named after this process, with 10.231.N.1 on our side and
// 10.231.N.2 inside; removed again by the destructor.
class cut_off_link {
 public:
  cut_off_link() {
    auto id = std::to_string(::getpid() % 100000);
    ns_ = "cohort-ns-" + id;
    outer_ = "cho" + id;
    inner_ = "chi" + id;
    auto net = "10.231." + std::to_string(::getpid() % 250 + 1);
    host_ip_ = net + ".1";
    worker_ip_ = net + ".2";
    if (::geteuid() != 0) {
      why_not_ = "not root";
      return;
    }
    if (sh("ip netns add " + ns_) != 0) {
      why_not_ = "cannot make a network namespace (ip netns add)";
      return;
    }
    made_ = true;
    bool ok = sh("ip link add " + outer_ + " type veth peer name " + inner_) == 0 &&
              sh("ip link set " + inner_ + " netns " + ns_) == 0 &&
              sh("ip addr add " + host_ip_ + "/24 dev " + outer_) == 0 && sh("ip link set " + outer_ + " up") == 0 &&
              sh("ip netns exec " + ns_ + " ip addr add " + worker_ip_ + "/24 dev " + inner_) == 0 &&
              sh("ip netns exec " + ns_ + " ip link set " + inner_ + " up") == 0 &&
              sh("ip netns exec " + ns_ + " ip link set lo up") == 0;
    if (!ok) why_not_ = "cannot set up a veth pair into the namespace";
  }
  ~cut_off_link() {
    if (!made_) return;
    sh("ip link del " + outer_);
    sh("ip netns del " + ns_);
  }
  const std::string& why_not() const { return why_not_; }
  const std::string& host_ip() const { return host_ip_; }
  const std::string& ns() const { return ns_; }
  void cut() { sh("ip link set " + outer_ + " down"); }

 private:
  std::string ns_, outer_, inner_, host_ip_, worker_ip_, why_not_;
  bool made_ = false;
};

json cluster_of(int port) { return json::parse(http_call(port, "GET", "/v1/cluster").body, nullptr, false); }

int busy_of(const json& c, const std::string& name) {
  for (const auto& w : c.value("workers", json::array()))
    if (w["name"] == name) return w["busy"];
  return -1;
}

TEST(ClusterNetns, AWorkerCutOffMidRunIsLostWithinTwoSecondsAndItsBranchesRunElsewhere) {
  cut_off_link link;
  if (!link.why_not().empty()) GTEST_SKIP() << "no network namespace for the cut-off test: " << link.why_not();
  setenv("COHORT_TEST_NETNS_SECRET", "a shared secret for the veth", 1);
  node_process head(fresh_dir("cluster-netns"), {"--cluster-port", "0", "--cluster-bind", link.host_ip(),
                                                 "--cluster-secret-env", "COHORT_TEST_NETNS_SECRET"});
  auto line = head.process().read_line(10000);
  ASSERT_NE(line.find("cluster port"), std::string::npos) << line;
  auto join = link.host_ip() + ":" + line.substr(line.rfind(':') + 1);
  auto worker = [&](const std::string& name, bool inside) {
    std::vector<std::string> argv;
    if (inside) argv = {"/usr/bin/env", "ip", "netns", "exec", link.ns()};
    for (auto a : {COHORT_BINARY, "--log-level", "warn", "worker", "--join"}) argv.push_back(a);
    for (auto a : {join, std::string("--slots"), std::string("8"), std::string("--name"), name,
                   std::string("--secret-env"), std::string("COHORT_TEST_NETNS_SECRET")})
      argv.push_back(a);
    return std::make_unique<child_process>(argv);
  };
  auto outside = worker("outside", false);
  auto inside = worker("inside", true);
  for (auto* w : {outside.get(), inside.get()}) {
    auto said = w->read_line(10000);
    ASSERT_NE(said.find("joined"), std::string::npos)
        << (w == inside.get() ? "inside: " : "outside: ") << said << w->read_stderr(1000) << " exit " << w->wait(100);
  }

  json scenario = {{"name", "cut"},
                   {"models", {{"m", {{"provider", "sim"}, {"seed", 5}, {"latency_ms", 1500}}}}},
                   {"agents", {{"a", {{"model", "m"}, {"prompt", "item {{item}}"}}}}},
                   {"workflow", {{"type", "fan_out"}, {"over", "input.items"}, {"do", {{"agent", "a"}}}}},
                   {"input", {{"items", json::array()}}}};
  auto items = json::array();
  for (int i = 0; i < 16; ++i) items.push_back(i);
  auto id = submit(head.port(), {{"scenario", scenario}, {"input", {{"items", items}}}})["id"].get<std::string>();
  for (int i = 0; i < 250 && busy_of(cluster_of(head.port()), "inside") <= 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GT(busy_of(cluster_of(head.port()), "inside"), 0);
  link.cut();
  auto cut_at = std::chrono::steady_clock::now();
  json c;
  while (std::chrono::steady_clock::now() - cut_at < std::chrono::seconds(5)) {
    c = cluster_of(head.port());
    if (c.value("lost_workers", 0) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto noticed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cut_at).count();
  EXPECT_EQ(c["lost_workers"], 1) << c;
  EXPECT_LE(noticed_ms, 2000);
  EXPECT_GT(c["lost_branches"].get<int>(), 0) << c;
  auto done = wait_finished(head.port(), id, 30000);
  EXPECT_EQ(done["status"], "succeeded") << done;
  EXPECT_EQ(done["branches"]["succeeded"], 16) << done;
  inside->signal(SIGKILL);
  inside->wait(5000);
}

}  // namespace
}  // namespace cohort::testing
