#pragma once
// The scenarios the node loaded lately, by their document: a client that submits the same
// scenario again and again (a service running one workflow over many inputs, or a named
// scenario) pays for checking and loading it once. Only scenarios that passed both the
// node's policy and the loader are kept. A document is known by its canonical text (keys
// sorted), compared whole, never by a hash alone: another client's document that happens to
// hash the same cannot take its place. Bounded: at most `max_entries` documents of at most
// `max_doc_bytes` each; the least recently used leave first. Thread-safe.
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cohort/runtime.hpp"

namespace cohort::node {

class loaded_scenarios {
 public:
  static constexpr size_t max_entries = 64;
  static constexpr size_t max_doc_bytes = 64 * 1024;

  // The document's key: its canonical text ("" when too big to keep).
  static std::string key_of(const nlohmann::json& doc);
  // The scenario loaded from the document with this key, if it is here.
  std::optional<Scenario> find(const std::string& key);
  void keep(const std::string& key, const Scenario& scenario);
  size_t size() const;

 private:
  using entry = std::pair<std::string, Scenario>;
  mutable std::mutex mutex_;
  std::list<entry> recent_;  // most recently used first
  std::unordered_map<std::string, std::list<entry>::iterator> by_key_;
};

}  // namespace cohort::node
