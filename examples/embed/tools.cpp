// Agents that use C++ tools: each tool is registered with what the model is told (a
// description and the JSON Schema of its arguments); an llm agent lists the tools it
// may call, and cohort runs the model's calls in parallel, each a branch of its own.
// The sim model scripts the calls here, so it runs with no model server; point "brain"
// at an OpenAI-compatible server and the same agent works with a real model.
//   build/embed_tools
#include <iostream>
#include <map>

#include "cohort/runtime.hpp"

using nlohmann::json;

// The typed side of a tool: plain C++ in, plain C++ out.
struct Stock {
  std::string sku;
  int on_hand = 0;
  double unit_price = 0;
};

Stock look_up(const std::string& sku) {
  static const std::map<std::string, Stock> warehouse{{"A-100", {"A-100", 42, 3.5}}, {"B-200", {"B-200", 7, 12.0}}};
  auto it = warehouse.find(sku);
  if (it == warehouse.end()) throw std::invalid_argument("no such SKU: " + sku);
  return it->second;
}

int main() {
  cohort::Runtime rt;
  // The arguments arrive checked against the schema: "sku" is a string matching the pattern.
  rt.register_tool(
      "stock",
      [](const cohort::ToolCall& call) {
        auto s = look_up(call.input.at("sku").get<std::string>());
        return json{{"sku", s.sku}, {"on_hand", s.on_hand}, {"value", s.on_hand * s.unit_price}};
      },
      {"Looks up how many units of a SKU are in the warehouse and what they are worth.",
       {{"type", "object"},
        {"required", {"sku"}},
        {"properties", {{"sku", {{"type", "string"}, {"pattern", "^[A-Z]-[0-9]{3}$"}}}}},
        {"additionalProperties", false}}});

  auto scenario = rt.load(json::parse(R"({
    "name": "stock-check",
    "models": {"brain": {"provider": "sim", "latency_ms": 20, "rules": [
      {"match": "worth",
       "tool_calls": [{"name": "stock", "arguments": {"sku": "A-100"}},
                      {"name": "stock", "arguments": {"sku": "B-200"}},
                      {"name": "calculator", "arguments": {"expression": "42 * 3.5 + 7 * 12"}}],
       "reply": "Stock and total value:\n{{tool_results}}"}]}},
    "agents": {
      "clerk": {"model": "brain", "prompt": "What is the stock of A-100 and B-200 worth?",
                "tools": ["stock", "calculator"]},
      "stock": {"type": "tool", "tool": "stock"},
      "calculator": {"type": "tool", "tool": "calculator"}
    },
    "workflow": {"agent": "clerk"}
  })"));

  auto r = rt.run(scenario, std::nullopt, [](const cohort::Event& e) {
    if (e.kind == "finished" && e.leaf) std::cout << "  " << e.path << ": " << e.status << "\n";
  });
  if (!r.ok()) {
    std::cerr << r.error_kind << ": " << r.error << "\n";
    return 1;
  }
  std::cout << r.output.get<std::string>() << "\n";
  // The three calls of the one answer, in the loop's report.
  const auto& calls = r.reports["clerk"]["calls"];
  if (calls.size() != 3 || r.output.get<std::string>().find("231") == std::string::npos) {
    std::cerr << "expected three calls and a total of 231, got " << r.reports.dump() << "\n";
    return 1;
  }
  return 0;
}
