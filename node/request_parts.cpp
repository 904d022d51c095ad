#include "node/request_parts.hpp"

#include <cctype>

#include "messages/input_limits.hpp"

namespace cohort::node {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

api_error method_not_allowed(const http_request& req, const std::string& path) {
  return api_error(405, "method_not_allowed", std::string(req.method_string()) + " is not allowed on " + path,
                   {{path, "route"}});
}

bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

nlohmann::json body_json(const http_request& req) {
  try {
    return parse_untrusted_json(req.body(), "the request body");
  } catch (const input_error& e) {
    throw api_error(400, "invalid_json", e.what(), {{"$", e.what()}});
  }
}

std::string query_value(const std::string& query, const std::string& key) {
  size_t at = 0;
  while (at <= query.size()) {
    auto end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    auto pair = query.substr(at, end - at);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      std::string raw = eq == std::string::npos ? "" : pair.substr(eq + 1), out;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() + 0 && hex_digit(raw[i + 1]) >= 0 && hex_digit(raw[i + 2]) >= 0) {
          out += static_cast<char>(hex_digit(raw[i + 1]) * 16 + hex_digit(raw[i + 2]));
          i += 2;
        } else {
          out += raw[i] == '+' ? ' ' : raw[i];
        }
      }
      return out;
    }
    at = end + 1;
  }
  return {};
}

int64_t query_int(const std::string& query, const std::string& key, int64_t min, int64_t max, int64_t fallback) {
  auto text = query_value(query, key);
  if (text.empty()) return fallback;
  bool digits = text.size() <= 12 && text.find_first_not_of("0123456789") == std::string::npos;
  auto value = digits ? std::stoll(text) : -1;
  if (!digits || value < min || value > max)
    throw api_error(400, "invalid_query",
                    key + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max),
                    {{"query " + key, text}});
  return value;
}

}  // namespace cohort::node
