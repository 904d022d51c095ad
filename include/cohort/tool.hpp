#pragma once
// C++ tools: plain callables that a scenario's `tool` agents run.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace cohort {

struct RunCoordination;  // cohort/coordination.hpp

// What a tool is given when its agent runs.
struct ToolCall {
  const nlohmann::json& input;      // the agent's rendered `input` (default: item, results or run input)
  const nlohmann::json& bindings;   // what is bound at this place: item, index, results, acc
  const nlohmann::json& run_input;  // the run's input
  const std::string& path;          // the branch's node path, for messages
  // The run's bus, barrier and blackboard, for a tool agent declared "detached": true
  // (it runs on a thread of its own, so its waits hold up nobody); null otherwise.
  RunCoordination* coordination = nullptr;
};

// A tool returns its output; throwing std::exception fails the branch with kind `tool_error`.
using Tool = std::function<nlohmann::json(const ToolCall&)>;

// What a model is told about a tool that an llm agent may call (docs/tools.md): what it
// does, and the JSON Schema of its arguments (null: any object). Arguments that break
// the schema go back to the model as an error; the tool never sees them. A scenario's
// own "description" and "parameters" on the tool agent take precedence.
struct ToolInfo {
  std::string description;
  nlohmann::json parameters;
};

}  // namespace cohort
