#include "spec/model_reader.hpp"

#include <fstream>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/url/parse.hpp>

#include "messages/input_limits.hpp"
#include "spec/schema_check.hpp"
#include "spec/sim_settings.hpp"
#include "spec/vocabulary.hpp"

namespace cohort {
namespace {

class model_reader {
 public:
  explicit model_reader(std::vector<std::string>& problems) : problems_(problems) {}

  model_def read(const std::string& name, const nlohmann::json& m) {
    auto path = "$.models." + name;
    model_def d;
    d.name = name;
    d.provider = parse_name_at(m.value("provider", ""), path + ".provider", problems_, model_provider::sim);
    if (m.contains("params")) d.params = m["params"];
    d.via_head = m.value("via", "worker") == "head";
    if (m.contains("price")) {
      d.prompt_price_per_million = m["price"].value("prompt_per_million", 0.0);
      d.completion_price_per_million = m["price"].value("completion_per_million", 0.0);
    }
    if (d.provider == model_provider::sim) {
      try {
        d.sim = parse_sim_settings(m, path);
        d.sim.name = name;
      } catch (const std::invalid_argument& e) {
        problems_.push_back(e.what());
      }
    } else {
      d.model = m.value("model", name);
      d.api_key_env = m.value("api_key_env", "");
      d.max_in_flight = m.value("max_in_flight", d.max_in_flight);
      d.connect_timeout_ms = m.value("connect_timeout_ms", d.connect_timeout_ms);
      d.request_timeout_ms = m.value("request_timeout_ms", d.request_timeout_ms);
      d.stream = m.value("stream", false);
      d.takes_json_schema = m.value("json_schema", false);
      load_endpoints(path, m, d);
      d.balance = m.value("balance", d.balance);
      d.affinity = parse_name_at(m.value("affinity", "none"), path + ".affinity", problems_, affinity_mode::none);
      if (m.contains("breaker")) {
        d.breaker_given = true;
        d.breaker.failures = m["breaker"].value("failures", d.breaker.failures);
        d.breaker.open_ms = m["breaker"].value("open_ms", d.breaker.open_ms);
      }
    }
    return d;
  }

  // The single `base_url` form or the `endpoints` list; the model's own max_in_flight,
  // rpm and tpm are each endpoint's defaults.
  void load_endpoints(const std::string& path, const nlohmann::json& m, model_def& d) {
    endpoint_def defaults;
    defaults.max_in_flight = d.max_in_flight;
    defaults.rpm = m.value("rpm", defaults.rpm);
    defaults.tpm = m.value("tpm", defaults.tpm);
    load_tls_and_headers(path, m, defaults, m.contains("api_key_env"));
    bool has_url = m.contains("base_url"), has_list = m.contains("endpoints");
    if (has_url && has_list) problem(path, "give either base_url or endpoints, not both");
    if (!has_url && !has_list) problem(path, "an openai model needs base_url or endpoints");
    if (has_url) {
      auto e = defaults;
      e.base_url = m.value("base_url", "");
      check_url(path + ".base_url", e.base_url);
      check_tls(path, e);
      d.endpoints.push_back(e);
    } else if (has_list) {
      const auto& list = m["endpoints"];
      for (size_t i = 0; i < list.size(); ++i) {
        auto at = path + ".endpoints[" + std::to_string(i) + "]";
        const auto& ep = list[i];
        auto e = defaults;
        e.base_url = ep.value("base_url", "");
        e.max_in_flight = ep.value("max_in_flight", e.max_in_flight);
        e.rpm = ep.value("rpm", e.rpm);
        e.tpm = ep.value("tpm", e.tpm);
        e.weight = ep.value("weight", e.weight);
        load_tls_and_headers(at, ep, e, m.contains("api_key_env"));
        check_url(at + ".base_url", e.base_url);
        check_tls(at, e);
        for (size_t j = 0; j < d.endpoints.size(); ++j)
          if (d.endpoints[j].base_url == e.base_url)
            problem(at + ".base_url", "\"" + e.base_url + "\" is already endpoints[" + std::to_string(j) + "]");
        d.endpoints.push_back(e);
      }
    }
    if (!d.endpoints.empty()) {
      d.base_url = d.endpoints[0].base_url;
      d.max_in_flight = d.endpoints[0].max_in_flight;
    }
  }

  void check_url(const std::string& path, const std::string& text) {
    auto url = boost::urls::parse_absolute_uri(text);
    if (!url) problem(path, "not an absolute URL: \"" + text + "\"");
    else if (url->scheme() != "http" && url->scheme() != "https")
      problem(path, "scheme \"" + std::string(url->scheme()) + "\" is not supported (use http or https)");
    else if (url->host().empty())
      problem(path, "no host in \"" + text + "\"");
    else if (url->has_port() && !detail::usable_port(url->port()))
      problem(path, "the port \"" + std::string(url->port()) + "\" is not a number from 1 to 65535");
  }

  // Given on the model, they are every endpoint's defaults; an endpoint's own replace
  // them (its headers are added to the model's, and win on the same name).
  // `key_from_env`: the model names api_key_env, so an Authorization header would clash.
  void load_tls_and_headers(const std::string& path, const nlohmann::json& j, endpoint_def& e, bool key_from_env) {
    e.ca_file = j.value("ca_file", e.ca_file);
    e.tls_verify = j.value("tls_verify", e.tls_verify);
    if (!j.contains("headers")) return;
    const auto& headers = j["headers"];
    for (auto& [name, value] : headers.items()) {
      auto at = path + ".headers." + name;
      auto lower = boost::algorithm::to_lower_copy(name);
      if (name.empty() || name.find_first_of(" \t:") != std::string::npos || has_control_chars(name))
        problem(at, "not a valid HTTP header name");
      else if (has_control_chars(value.get_ref<const std::string&>()))
        problem(at, "a header value must not contain control characters (a line break would start another header)");
      else if (lower == "host" || lower == "content-type" || lower == "content-length" ||
               lower == "transfer-encoding" || lower == "connection")
        problem(at, "cohort sets " + name + " itself (it frames the request)");
      else if (lower == "authorization" && key_from_env)
        problem(at, "give the key either here or by api_key_env, not both");
      else {
        // Header names are case-insensitive: an endpoint's "x-team" replaces the model's "X-Team".
        for (auto it = e.headers.begin(); it != e.headers.end();)
          it = boost::algorithm::iequals(it->first, name) ? e.headers.erase(it) : std::next(it);
        e.headers[name] = value.get<std::string>();
      }
    }
  }

  void check_tls(const std::string& path, const endpoint_def& e) {
    if (e.ca_file.empty()) return;
    if (e.base_url.rfind("https:", 0) != 0)
      problem(path + ".ca_file", "given for \"" + e.base_url + "\", which is not https");
    else if (!std::ifstream(e.ca_file))
      problem(path + ".ca_file", "cannot read \"" + e.ca_file + "\"");
  }

 private:
  void problem(const std::string& path, const std::string& what) { problems_.push_back(path + ": " + what); }

  std::vector<std::string>& problems_;
};

}  // namespace

namespace detail {

bool plain_http_url(const std::string& text) {
  auto url = boost::urls::parse_absolute_uri(text);
  return url && (url->scheme() == "http" || url->scheme() == "https") && !url->host().empty() &&
         (!url->has_port() || usable_port(url->port()));
}

bool usable_port(std::string_view port) {
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
  auto n = std::stoi(std::string(port));
  return n >= 1 && n <= 65535;
}

model_def read_model(const std::string& name, const nlohmann::json& m, std::vector<std::string>& problems) {
  return model_reader(problems).read(name, m);
}

}  // namespace detail

std::map<std::string, model_def> load_models(const nlohmann::json& doc, const std::string& origin) {
  std::vector<std::string> problems;
  check_models_against_schema(doc, problems);
  check_number_ranges(doc, "$", problems);
  if (!problems.empty()) throw scenario_error(origin, problems);
  std::map<std::string, model_def> models;
  for (auto& [name, m] : doc["models"].items()) models.emplace(name, detail::read_model(name, m, problems));
  if (!problems.empty()) throw scenario_error(origin, problems);
  return models;
}

}  // namespace cohort
