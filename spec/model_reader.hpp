#pragma once
// A model of a scenario's "models" (docs/models.md), read once its document has passed
// the schema check: its provider, endpoints, limits, TLS and headers. Also what a node's
// models file (`cohort serve --models FILE`: a document of "models" alone) holds.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {
namespace detail {

// Each problem ("$.models.NAME.base_url: ...") goes to `problems`.
model_def read_model(const std::string& name, const nlohmann::json& m, std::vector<std::string>& problems);

// An absolute http or https URL with a host and, if it gives a port, a usable one (a
// model's base_url, a remote agent's url, an MCP server's).
bool plain_http_url(const std::string& text);
// A URL's port as written: digits only, 1 to 65535 (Boost.URL also takes "" and 99999).
bool usable_port(std::string_view port);

}  // namespace detail

// The models of a document {"models": {...}} (each as in a scenario). Throws
// scenario_error naming `origin` and every problem's JSON path.
std::map<std::string, model_def> load_models(const nlohmann::json& doc, const std::string& origin);

}  // namespace cohort
