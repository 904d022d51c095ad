#include "run/external_desk.hpp"

#include <caf/send.hpp>

namespace cohort {

std::optional<nlohmann::json> external_desk::wait(const std::string& agent, const caf::actor& branch) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& e = entries_[agent];
  if (e.output) return std::exchange(e.output, std::nullopt);
  e.branch = branch;
  return std::nullopt;
}

bool external_desk::stop_waiting(const std::string& agent) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(agent);
  if (it == entries_.end()) return false;
  it->second.branch = nullptr;
  return it->second.sent;
}

external_desk::handed external_desk::hand_in(const std::string& agent, nlohmann::json output) {
  caf::actor branch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& e = entries_[agent];
    if (e.given) return handed::already_given;
    e.given = true;
    if (!e.branch) {
      e.output = std::move(output);
      return handed::kept;
    }
    branch = std::exchange(e.branch, nullptr);
    e.sent = true;
  }
  caf::anon_send(branch, external_result_atom::value, std::move(output));
  return handed::to_branch;
}

bool external_desk::check_in(const std::string& agent) {
  std::lock_guard<std::mutex> lock(mutex_);
  return !std::exchange(entries_[agent].checked_in, true);
}

}  // namespace cohort
