#pragma once
// Where a run's external agents (agent type "external": a program outside the run,
// speaking the node's HTTP agent API) hand in their results. A result may come before
// the agent's branch starts (it is kept for it) or while the branch waits (it is sent
// to the branch's actor as (external_result_atom, output)); each agent gives one.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

namespace cohort {

using external_result_atom = caf::atom_constant<caf::atom("extresult")>;

class external_desk {
 public:
  enum class handed { to_branch, kept, already_given };

  // The branch of `agent` starts waiting; a result already handed in is returned now.
  std::optional<nlohmann::json> wait(const std::string& agent, const caf::actor& branch);
  // The branch stops waiting (it ends otherwise: timed out, cancelled). True when a
  // result was handed to it first and is on its way: that result came in time.
  bool stop_waiting(const std::string& agent);
  handed hand_in(const std::string& agent, nlohmann::json output);
  // The agent's program said it is there (POST .../register); false the second time.
  bool check_in(const std::string& agent);

 private:
  struct desk_entry {
    caf::actor branch;                     // waiting now
    std::optional<nlohmann::json> output;  // handed in before its branch waited
    bool given = false;
    bool sent = false;                     // to a waiting branch
    bool checked_in = false;
  };
  std::mutex mutex_;
  std::map<std::string, desk_entry> entries_;
};

}  // namespace cohort
