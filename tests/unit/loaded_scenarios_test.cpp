// The node's cache of loaded scenarios: a document is known by its whole canonical text,
// the least recently used leaves first, and big documents are not kept.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"
#include "node/loaded_scenarios.hpp"

namespace cohort::node {
namespace {

using json = nlohmann::json;

json named_scenario(const std::string& name) {
  auto doc = json::parse(R"({"models": {"m": {"provider": "sim"}},
    "agents": {"a": {"type": "llm", "model": "m", "prompt": "hi"}}, "workflow": {"agent": "a"}})");
  doc["name"] = name;
  return doc;
}

TEST(LoadedScenarios, TheSameDocumentInAnotherKeyOrderIsFound) {
  Runtime rt;
  loaded_scenarios cache;
  auto doc = named_scenario("first");
  cache.keep(loaded_scenarios::key_of(doc), rt.load(doc));
  auto reordered = json::parse(R"({"workflow": {"agent": "a"}, "name": "first",
    "agents": {"a": {"prompt": "hi", "model": "m", "type": "llm"}}, "models": {"m": {"provider": "sim"}}})");
  auto found = cache.find(loaded_scenarios::key_of(reordered));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name(), "first");
  // One character apart is another document.
  auto other = named_scenario("first");
  other["agents"]["a"]["prompt"] = "hi!";
  EXPECT_FALSE(cache.find(loaded_scenarios::key_of(other)));
}

TEST(LoadedScenarios, TheLeastRecentlyUsedLeavesFirst) {
  Runtime rt;
  loaded_scenarios cache;
  auto key = [](int i) { return loaded_scenarios::key_of(named_scenario("s" + std::to_string(i))); };
  for (size_t i = 0; i < loaded_scenarios::max_entries; ++i)
    cache.keep(key(static_cast<int>(i)), rt.load(named_scenario("s" + std::to_string(i))));
  ASSERT_TRUE(cache.find(key(0)));  // used: now the most recent
  cache.keep(key(1000), rt.load(named_scenario("s1000")));
  EXPECT_EQ(cache.size(), loaded_scenarios::max_entries);
  EXPECT_TRUE(cache.find(key(0)));
  EXPECT_FALSE(cache.find(key(1)));  // the least recently used
  EXPECT_TRUE(cache.find(key(2)));
  EXPECT_TRUE(cache.find(key(1000)));
}

TEST(LoadedScenarios, ABigDocumentIsNotKept) {
  Runtime rt;
  loaded_scenarios cache;
  auto doc = named_scenario("big");
  doc["description"] = std::string(loaded_scenarios::max_doc_bytes, 'x');
  auto key = loaded_scenarios::key_of(doc);
  EXPECT_TRUE(key.empty());
  cache.keep(key, rt.load(named_scenario("big")));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.find(key));
}

}  // namespace
}  // namespace cohort::node
