// The node's run store (SQLite on disk) on its own.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "node/run_store.hpp"
#include "tests/support/node_process.hpp"

namespace cohort::node {
namespace {

stored_run a_run(const std::string& id) {
  stored_run r;
  r.id = id;
  r.status = "running";
  r.created_ms = 1;
  r.scenario = "s";
  return r;
}

// An acknowledgement runs on the store's thread right after a commit; a POST with
// wait_ms may read an ended run there, and that read flushes the store. The flush waited
// for the store's thread, which is the one waiting: every later write stopped for good.
TEST(RunStore, AFlushFromAnAcknowledgementDoesNotStopTheStore) {
  auto dir = testing::fresh_dir("store-ack-flush");
  std::filesystem::create_directories(dir);
  auto store = std::make_unique<run_store>(dir);
  auto first = store->run_created(a_run("run-a"));
  std::promise<std::thread::id> acknowledged;
  // The next write's ticket: certainly not written yet, so the acknowledgement runs on
  // the store's thread after that write's commit.
  store->when_written(first + 1, [&] {
    store->flush();
    acknowledged.set_value(std::this_thread::get_id());
  });
  store->run_created(a_run("run-b"));
  auto done = acknowledged.get_future();
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "the store's thread waited for itself";
    std::fflush(nullptr);
    std::_Exit(1);  // the store cannot be shut down any more
  }
  EXPECT_NE(done.get(), std::this_thread::get_id()) << "the acknowledgement did not run on the store's thread";
  // The store goes on.
  store->wait_written(store->run_created(a_run("run-c")));
  store->flush();
  EXPECT_TRUE(store->result("run-c").is_null());  // created, not finished
  store.reset();
}

}  // namespace
}  // namespace cohort::node
