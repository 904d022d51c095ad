// Agent behaviours in C++, run in rounds: a small market. Each trader is an instance
// of one agent; its behaviour is a C++ class, its state lives in {{self}} (cash,
// shares, strategy), and each round it sees the price in {{world}} and the tips its
// neighbours sent it last round. Between rounds a C++ world step (a lambda) moves the
// price by the net demand. The same seed gives the same market, run after run.
//   build/embed_rounds
#include <cmath>
#include <iostream>

#include "cohort/runtime.hpp"

using nlohmann::json;

// What a trader does with the price it sees, the tips it got and its own state.
class Trader {
 public:
  json act(const cohort::ToolCall& call) const {
    const auto& self = call.bindings["self"];
    const auto& world = call.bindings["world"];
    double price = world["price"], last = world.value("last_price", price);
    int bullish = 0;
    for (const auto& tip : call.bindings["messages"]) bullish += tip["content"] == "up" ? 1 : -1;
    // Momentum traders follow the trend and their neighbours; contrarians lean against both.
    double signal = (price - last) + 0.5 * bullish;
    if (self["strategy"] == "contrarian") signal = -signal;
    // The round's seed breaks ties differently for every trader and round.
    if (signal == 0) signal = (call.bindings["seed"].get<uint64_t>() % 2) ? 1 : -1;
    int order = signal > 0 ? 1 : -1;
    double cash = self["cash"];
    int shares = self["shares"];
    if (order > 0 && cash < price) order = 0;
    if (order < 0 && shares == 0) order = 0;
    return json{{"order", order},
                {"state", {{"cash", cash - order * price}, {"shares", shares + order}}},
                {"send", {{"to", "@neighbours"}, {"content", signal > 0 ? "up" : "down"}}}};
  }
};

int main() {
  cohort::Runtime rt;
  Trader trader;
  rt.register_tool("trader", [&trader](const cohort::ToolCall& call) { return trader.act(call); });
  // The world step: the price moves by 1% per unit of net demand.
  rt.register_tool("market", [](const cohort::ToolCall& call) {
    int demand = 0;
    for (const auto& a : call.bindings["actions"]) demand += a["output"].value("order", 0);
    double price = call.bindings["world"]["price"];
    double next = std::round(price * (1.0 + 0.01 * demand) * 100) / 100;
    return json{{"price", next}, {"last_price", price}, {"demand", demand}};
  });

  json traders = json::array();
  for (int i = 0; i < 40; ++i)
    traders.push_back({{"strategy", i % 3 == 0 ? "contrarian" : "momentum"}, {"cash", 1000.0}, {"shares", 10}});
  auto scenario = rt.load({
      {"name", "market"},
      {"models", json::object()},
      {"agents", {{"trader", {{"type", "tool"}, {"tool", "trader"}}}, {"market", {{"type", "tool"}, {"tool", "market"}}}}},
      {"workflow",
       {{"type", "simulation"}, {"rounds", 12}, {"seed", 2024}, {"topology", "random"}, {"degree", 3},
        {"world", {{"price", 100.0}}}, {"world_step", "market"},
        {"population", {{{"agent", "trader"}, {"name", "trader-{{index}}"}, {"instances_from", "input.traders"}}}}}},
      {"input", {{"traders", traders}}},
  });

  auto first = rt.run(scenario);
  auto again = rt.run(scenario);
  if (!first.ok()) {
    std::cerr << first.error_kind << ": " << first.error << "\n";
    return 1;
  }
  for (const auto& round : first.output["transcript"])
    std::cout << "round " << round["round"] << ": price " << round["world"]["price"] << " (demand "
              << round["world"]["demand"] << ", " << round["messages"].size() << " tips)\n";
  std::cout << "final price " << first.output["world"]["price"] << "; trader-0 holds "
            << first.output["agents"]["trader-0"]["shares"] << " shares\n";
  // Reproducible: the second run's transcript is the first one's.
  if (first.output["transcript"] != again.output["transcript"]) {
    std::cerr << "the two runs of one seed differ\n";
    return 1;
  }
  return first.output["rounds"] == 12 ? 0 : 1;
}
