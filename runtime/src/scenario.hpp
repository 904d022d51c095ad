#pragma once
// A scenario: models, agents, the workflow tree and the input, loaded from JSON and
// validated before anything runs. Every error names the JSON path and what is wrong.
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/sim_responder.hpp"

namespace cohort {

struct model_def {
  std::string name;
  std::string provider;            // "sim" | "openai"
  sim_settings sim;                // provider "sim"
  std::string base_url;            // provider "openai": e.g. http://127.0.0.1:8000/v1
  std::string model;               // the model name sent to the server
  std::string api_key_env;         // environment variable holding the API key
  int max_in_flight = 64;
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 120000;
  nlohmann::json params = nlohmann::json::object();  // merged into every request body
};

struct agent_def {
  std::string name;
  std::string type;                // "llm" | "tool"
  std::string model;               // llm
  std::string system;              // llm: system message template
  std::string prompt;              // llm: user message template
  bool json_output = false;        // llm: parse the reply as JSON
  nlohmann::json params = nlohmann::json::object();  // llm: request options
  std::string tool;                // tool: registered tool name
  nlohmann::json input;            // tool: JSON template of the tool's input (null = default)
  int timeout_ms = 0;              // 0 = inherit
};

enum class node_kind { agent, fan_out, pipeline };

struct aggregation {
  std::string kind = "collect";    // collect | join | merge | reduce
  std::string separator = "\n\n";  // join
  std::string merge_mode = "deep"; // merge: shallow | deep | concat
  std::string reduce_agent;        // reduce: folds (acc, item) -> acc
  nlohmann::json reduce_initial;   // reduce: start value; null = first result
};

struct workflow_node {
  node_kind kind = node_kind::agent;
  std::string json_path;           // where it was defined: "$.workflow.steps[1]"
  std::string label;               // short name for progress lines and node paths
  std::string agent;               // agent: the agent's name; fan_out: per-item agent
  std::vector<std::shared_ptr<const workflow_node>> children;  // pipeline steps, branches
  std::shared_ptr<const workflow_node> each;  // fan_out over items: one per item
  std::string over;                // fan_out over items: "input.x", "results", "item.y"
  int max_concurrency = 0;         // 0 = no limit
  aggregation aggregate;
  int timeout_ms = 0;              // per branch of this node; 0 = inherit
};

struct scenario {
  std::string name;
  std::string origin;              // the file it came from, or "<json>"
  std::map<std::string, model_def> models;
  std::map<std::string, agent_def> agents;
  std::shared_ptr<const workflow_node> workflow;
  nlohmann::json input = nlohmann::json::object();
  int timeout_ms = 0;              // whole run; 0 = the runtime default
};

// Thrown with every problem found, each as "JSON path: what is wrong".
class scenario_error : public std::runtime_error {
 public:
  scenario_error(std::string origin, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Parses and validates. `tool_names` are the tools a tool agent may name.
scenario load_scenario_file(const std::string& path, const std::vector<std::string>& tool_names);
scenario load_scenario(const nlohmann::json& doc, const std::string& origin,
                       const std::vector<std::string>& tool_names);

// Checks a replacement input against the scenario's workflow (the `over` paths).
void validate_input(const scenario& s, const nlohmann::json& input);

}  // namespace cohort
