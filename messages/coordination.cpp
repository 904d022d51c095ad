#include "messages/coordination.hpp"

#include <atomic>

#include <caf/message.hpp>

namespace cohort {

const char* to_string(coordination_errc e) {
  switch (e) {
    case coordination_errc::timeout: return "timeout";
    case coordination_errc::broken: return "broken";
    case coordination_errc::extra_party: return "extra_party";
    case coordination_errc::mailbox_full: return "mailbox_full";
    case coordination_errc::stopped: return "stopped";
    case coordination_errc::invalid_argument: return "invalid_argument";
  }
  return "unknown";
}

caf::error coordination_error(coordination_errc code, std::string message) {
  return caf::make_error(code, std::move(message));
}

uint64_t next_bus_ticket() {
  static std::atomic<uint64_t> last{0};
  return ++last;
}

std::string coordination_error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == caf::atom("coord") && ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return "error " + std::to_string(err.code()) + " (" + caf::to_string(err.category()) + ")";
}

}  // namespace cohort
