#pragma once
// The messages an agent's output names (the documented shape, docs/coordination.md):
//
//   {"send": {"to": "aggregator", "content": ...}, ...the rest of the output}
//   {"send": [{"to": ["alice", "bob"], "content": ...}, {"to": "*", "content": ...}]}
//
// "to" is a name, an array of names, "*" (every other agent) or "@neighbours" (in a
// simulation with a topology). Plain C++: the bus and the simulation both read it.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort {

struct outgoing_message {
  std::vector<std::string> to;  // names (empty for everyone / neighbours)
  bool everyone = false;        // "*"
  bool neighbours = false;      // "@neighbours"
  nlohmann::json content;
};

// The "send" entries of `output` (none when it is not an object with "send"). On a
// malformed entry, `error` says which and why, and nothing is returned.
std::vector<outgoing_message> read_sends(const nlohmann::json& output, std::string& error);

}  // namespace cohort
