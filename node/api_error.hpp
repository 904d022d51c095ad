#pragma once
// A request the node refuses: its HTTP status and the JSON error document
// {"error": {"kind", "message", "problems": [{"path", "message"}]}}.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cohort::node {

struct problem {
  std::string path;     // a JSON path ("$.workflow.steps[1]"), a header or a route
  std::string message;
};

class api_error : public std::runtime_error {
 public:
  api_error(unsigned status, std::string kind, const std::string& message, std::vector<problem> problems = {})
      : std::runtime_error(message), status_(status), kind_(std::move(kind)), problems_(std::move(problems)) {}

  unsigned status() const { return status_; }
  const std::string& kind() const { return kind_; }
  const std::vector<problem>& problems() const { return problems_; }

  nlohmann::json to_json() const {
    auto list = nlohmann::json::array();
    for (const auto& p : problems_) list.push_back({{"path", p.path}, {"message", p.message}});
    return {{"error", {{"kind", kind_}, {"message", what()}, {"problems", std::move(list)}}}};
  }

 private:
  unsigned status_;
  std::string kind_;
  std::vector<problem> problems_;
};

}  // namespace cohort::node
