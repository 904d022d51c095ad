#pragma once
// A JSON Schema compiled once (valijson), checked many times: the scenario format's
// own schema, and the parameters a tool declares. Each problem names its JSON path.
// "pattern", "patternProperties" and "format" are not checked: valijson runs them with
// std::regex, which a long string (from a model, a scenario) crashes.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace valijson {
class Schema;
}

namespace cohort {

class json_schema {
 public:
  // Throws std::invalid_argument when `schema` is not one valijson can read.
  explicit json_schema(const nlohmann::json& schema);
  ~json_schema();
  json_schema(const json_schema&) = delete;
  json_schema& operator=(const json_schema&) = delete;

  // One problem for each failure, "$.a.b: what (got value)"; `root` replaces "$".
  void check(const nlohmann::json& value, std::vector<std::string>& problems, const std::string& root = "$") const;

 private:
  std::unique_ptr<valijson::Schema> schema_;
};

// `schema` compiled, or null with a problem at `path` when it is not one.
std::shared_ptr<const json_schema> compile_schema_at(const nlohmann::json& schema, const std::string& path,
                                                     std::vector<std::string>& problems);

}  // namespace cohort
