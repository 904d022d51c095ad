#pragma once
// An answer of the shape a request's response_format asks for (json_object, or
// json_schema with its schema): what the official clients' structured-output calls get
// from `cohort mock-llm`. Strings take the simulated text, numbers their minimum.
#include <string>

#include <nlohmann/json.hpp>

namespace cohort::mock_llm {

// A value that matches `schema` (the common keywords: type, properties, required,
// items, minItems, enum, const, anyOf, oneOf, minimum, minLength), built from `text`.
nlohmann::json sample_of(const nlohmann::json& schema, const std::string& text);

}  // namespace cohort::mock_llm
