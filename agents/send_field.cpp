#include "agents/send_field.hpp"

namespace cohort {
namespace {

bool read_one(const nlohmann::json& entry, outgoing_message& m, std::string& why) {
  if (!entry.is_object() || !entry.contains("to")) {
    why = "must be an object with \"to\" and \"content\"";
    return false;
  }
  const auto& to = entry["to"];
  if (to == "*") m.everyone = true;
  else if (to == "@neighbours") m.neighbours = true;
  else if (to.is_string() && !to.get_ref<const std::string&>().empty()) m.to.push_back(to.get<std::string>());
  else if (to.is_array() && !to.empty()) {
    for (const auto& name : to) {
      if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
        why = "\"to\" must hold names (non-empty strings)";
        return false;
      }
      m.to.push_back(name.get<std::string>());
    }
  } else {
    why = "\"to\" must be a name, an array of names, \"*\" or \"@neighbours\"";
    return false;
  }
  m.content = entry.value("content", nlohmann::json());
  return true;
}

}  // namespace

std::vector<outgoing_message> read_sends(const nlohmann::json& output, std::string& error) {
  std::vector<outgoing_message> out;
  if (!output.is_object()) return out;
  auto it = output.find("send");
  if (it == output.end() || it->is_null()) return out;
  const auto& entries = *it;
  auto one = [&](const nlohmann::json& e, const std::string& where) {
    outgoing_message m;
    std::string why;
    if (!read_one(e, m, why)) {
      error = where + ": " + why;
      return false;
    }
    out.push_back(std::move(m));
    return true;
  };
  if (entries.is_array()) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (!one(entries[i], "send[" + std::to_string(i) + "]")) return {};
  } else if (!one(entries, "send")) {
    return {};
  }
  return out;
}

}  // namespace cohort
