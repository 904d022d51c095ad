#include "node/submission_policy.hpp"

#include <algorithm>

namespace cohort::node {
namespace {

void check_ca_file(const nlohmann::json& j, const std::string& path, std::vector<problem>& out) {
  if (j.is_object() && j.contains("ca_file"))
    out.push_back({path + ".ca_file", "a submitted scenario may not name a local file; the node's config trusts "
                                      "its certificate authorities"});
}

}  // namespace

std::vector<problem> check_submitted_scenario(const nlohmann::json& doc,
                                              const std::vector<std::string>& allowed_key_env) {
  std::vector<problem> out;
  // An MCP server is a command the node would run: not for whoever can submit a scenario.
  if (doc.is_object() && doc.contains("mcp_servers") && doc["mcp_servers"].is_object())
    for (const auto& [name, server] : doc["mcp_servers"].items())
      out.push_back({"$.mcp_servers." + name + ".command",
                     "the node does not start the commands a submitted scenario names (MCP servers)"});
  if (!doc.is_object()) return out;
  auto check_key = [&](const nlohmann::json& j, const std::string& path) {
    auto key = j.find("api_key_env");
    if (key == j.end() || !key->is_string()) return;
    auto var = key->get<std::string>();
    if (std::find(allowed_key_env.begin(), allowed_key_env.end(), var) != allowed_key_env.end()) return;
    std::string all;
    for (const auto& a : allowed_key_env) all += (all.empty() ? "" : ", ") + a;
    out.push_back({path + ".api_key_env", "the node does not let a submitted scenario read \"" + var +
                                              "\" (allowed_key_env: " + (all.empty() ? "none" : all) + ")"});
  };
  if (doc.contains("models") && doc["models"].is_object())
    for (const auto& [name, m] : doc["models"].items()) {
      auto path = "$.models." + name;
      if (!m.is_object()) continue;
      check_key(m, path);
      check_ca_file(m, path, out);
      if (auto eps = m.find("endpoints"); eps != m.end() && eps->is_array())
        for (size_t i = 0; i < eps->size(); ++i) check_ca_file((*eps)[i], path + ".endpoints[" + std::to_string(i) + "]", out);
    }
  // A remote A2A agent's token is a secret of the node's too.
  if (doc.contains("agents") && doc["agents"].is_object())
    for (const auto& [name, a] : doc["agents"].items())
      if (a.is_object()) check_key(a, "$.agents." + name);
  return out;
}

problem problem_from(const std::string& line) {
  auto cut = line.find(": ");
  if (cut == std::string::npos || line.empty() || line[0] != '$') return {"$", line};
  return {line.substr(0, cut), line.substr(cut + 2)};
}

}  // namespace cohort::node
