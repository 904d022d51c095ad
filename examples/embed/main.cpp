// Embedding cohort: a C++ tool, a scenario built in code, a run with live events.
//   build/embed_example
#include <algorithm>
#include <cctype>
#include <iostream>

#include "cohort/runtime.hpp"

int main() {
  cohort::Runtime rt;

  // A C++ tool: any callable from JSON to JSON.
  rt.register_tool("headline", [](const cohort::ToolCall& call) {
    auto text = call.input.get<std::string>();
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
    return nlohmann::json(text);
  });

  auto scenario = rt.load(nlohmann::json::parse(R"({
    "name": "embedded",
    "models": {"sim": {"provider": "sim", "latency_ms": {"min": 20, "max": 60}, "seed": 3}},
    "agents": {
      "writer":   {"type": "llm", "model": "sim", "prompt": "One line about {{item}}."},
      "headline": {"type": "tool", "tool": "headline"}
    },
    "workflow": {"type": "fan_out", "over": "input.topics",
                 "do": {"type": "pipeline", "steps": [{"agent": "writer"}, {"agent": "headline"}]}},
    "input": {"topics": ["actors", "mailboxes", "supervisors"]}
  })"));

  auto result = rt.run(scenario, std::nullopt, [](const cohort::Event& e) {
    if (e.leaf && e.kind == "finished") std::cerr << "  done " << e.path << "\n";
  });
  std::cout << result.to_json().dump(2) << std::endl;
  return result.ok() ? 0 : 1;
}
