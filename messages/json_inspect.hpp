#pragma once
// Lets nlohmann::json travel inside CAF messages: serialized as its compact text.
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include "messages/input_limits.hpp"
#include <string>
#include <type_traits>

namespace nlohmann {

template <class Inspector>
typename std::enable_if<Inspector::reads_state, typename Inspector::result_type>::type
inspect(Inspector& f, json& x) {
  std::string text = x.dump();
  return f(caf::meta::type_name("json"), text);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state, typename Inspector::result_type>::type
inspect(Inspector& f, json& x) {
  std::string text;
  auto on_load = [&]() -> caf::error {
    auto parsed = cohort::parse_untrusted_json_or_discarded(text);  // no exceptions; another node is untrusted
    if (parsed.is_discarded())
      return caf::make_error(caf::sec::invalid_argument, "malformed json in message");
    x = std::move(parsed);
    return caf::none;
  };
  return f(caf::meta::type_name("json"), text, caf::meta::load_callback(on_load));
}

}  // namespace nlohmann
