#pragma once
// Reading the parts of a request the node's routes share: names in a route, the JSON
// body, query parameters. Each refusal is an api_error naming the part at fault.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "node/api_error.hpp"
#include "node/http_server.hpp"

namespace cohort::node {

// A run id, scenario or agent name as it may appear in a route: 1 to 128 letters,
// digits, '-', '_', '.'.
bool plain_name(const std::string& s);

// 405 for a method the route does not take.
api_error method_not_allowed(const http_request& req, const std::string& path);

// The body as JSON; throws api_error 400 invalid_json (depth and size bounded).
nlohmann::json body_json(const http_request& req);

// The value of `key` in a query string ("a=1&b=2"), percent-decoded; "" if absent.
std::string query_value(const std::string& query, const std::string& key);

// An integer query parameter from `min` to `max`, `fallback` when absent; throws
// api_error 400 invalid_query naming it.
int64_t query_int(const std::string& query, const std::string& key, int64_t min, int64_t max, int64_t fallback);

}  // namespace cohort::node
