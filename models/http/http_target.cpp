#include "models/http/http_target.hpp"

#include <boost/url/parse.hpp>

#include "spec/model_reader.hpp"

namespace cohort {

std::optional<http_target> parse_http_target(const std::string& text) {
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->encoded_host().empty()) return std::nullopt;
  if (url->has_port() && !detail::usable_port(url->port())) return std::nullopt;
  http_target t;
  t.https = url->scheme() == "https";
  const std::string default_port = t.https ? "443" : "80";
  t.host = url->host_address();
  t.port = url->has_port() ? std::string(url->port()) : default_port;
  std::string host_in_url(url->encoded_host());
  t.host_header = t.port == default_port ? host_in_url : host_in_url + ":" + t.port;
  t.target = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
  if (url->has_query()) t.target += "?" + std::string(url->encoded_query());
  return t;
}

std::string printable_url(const std::string& text) {
  auto url = boost::urls::parse_uri_reference(text);
  if (!url || !url->has_scheme()) return "(not a URL)";
  std::string shown = std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
  return shown + std::string(url->encoded_path());
}

}  // namespace cohort
