#pragma once
// An http:// or https:// URL as a request needs it: where to connect, the Host header
// and the request target. Plain C++ (Boost.URL), no CAF.
#include <optional>
#include <string>

namespace cohort {

struct http_target {
  std::string host;         // to connect to (an IPv6 address without brackets)
  std::string port;         // the URL's, else the scheme's default
  std::string host_header;  // as the URL writes the host, with the port unless it is the default
  std::string target;       // path and query; "/" when the URL has none
  bool https = false;
};

// Null when `url` is not an absolute http or https URL with a host (and a port from 1 to
// 65535, when it gives one).
std::optional<http_target> parse_http_target(const std::string& url);

// `url` as messages may show it: scheme, host, port and path, without the user info, query
// and fragment, where keys and tokens travel ("?api_key=..."). "(not a URL)" if it is none.
std::string printable_url(const std::string& url);

}  // namespace cohort
