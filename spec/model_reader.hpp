#pragma once
// A model of a scenario's "models" (docs/models.md), read once its document has passed
// the schema check: its provider, endpoints, limits, TLS and headers. Also what a node's
// models file (`cohort serve --models FILE`: a document of "models" alone) holds.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/scenario.hpp"

namespace cohort {
namespace detail {

// Each problem ("$.models.NAME.base_url: ...") goes to `problems`.
model_def read_model(const std::string& name, const nlohmann::json& m, std::vector<std::string>& problems);

// An absolute http or https URL with a host (a model's base_url, a remote agent's url).
bool plain_http_url(const std::string& text);

}  // namespace detail

// The models of a document {"models": {...}} (each as in a scenario). Throws
// scenario_error naming `origin` and every problem's JSON path.
std::map<std::string, model_def> load_models(const nlohmann::json& doc, const std::string& origin);

}  // namespace cohort
