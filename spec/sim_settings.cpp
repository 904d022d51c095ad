#include "spec/sim_settings.hpp"

#include <stdexcept>

namespace cohort {
namespace {

std::vector<sim_tool_call> parse_tool_turn(const nlohmann::json& calls, const std::string& at) {
  if (!calls.is_array() || calls.empty()) throw std::invalid_argument(at + ": must be a non-empty array of calls");
  std::vector<sim_tool_call> turn;
  for (size_t i = 0; i < calls.size(); ++i) {
    auto cat = at + "[" + std::to_string(i) + "]";
    const auto& c = calls[i];
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
      throw std::invalid_argument(cat + ": must be {\"name\", \"arguments\"}");
    sim_tool_call call;
    call.name = c["name"].get<std::string>();
    if (c.contains("arguments")) call.arguments = c["arguments"];
    turn.push_back(std::move(call));
  }
  return turn;
}

void parse_tool_turns(const nlohmann::json& r, const std::string& at, sim_rule& rule) {
  if (r.contains("tool_calls")) rule.tool_turns.push_back(parse_tool_turn(r["tool_calls"], at + ".tool_calls"));
  if (!r.contains("tool_turns")) return;
  const auto& turns = r["tool_turns"];
  if (!turns.is_array() || turns.empty()) throw std::invalid_argument(at + ".tool_turns: must be a non-empty array");
  for (size_t k = 0; k < turns.size(); ++k)
    rule.tool_turns.push_back(parse_tool_turn(turns[k], at + ".tool_turns[" + std::to_string(k) + "]"));
}

}  // namespace

std::vector<sim_rule> parse_sim_rules(const nlohmann::json& rules, const std::string& where) {
  if (!rules.is_array()) throw std::invalid_argument(where + ": must be an array of rules");
  std::vector<sim_rule> out;
  for (size_t i = 0; i < rules.size(); ++i) {
    auto at = where + "[" + std::to_string(i) + "]";
    const auto& r = rules[i];
    if (!r.is_object()) throw std::invalid_argument(at + ": a rule must be an object");
    sim_rule rule;
    if (r.contains("match") && !r["match"].is_string()) throw std::invalid_argument(at + ".match: must be a string");
    try {
      rule.regex = cohort::regex(r.value("match", ".*"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(at + ".match: bad regex: " + e.what());
    }
    if (r.contains("reply")) {
      if (!r["reply"].is_string()) throw std::invalid_argument(at + ".reply: must be a string");
      rule.reply = r["reply"].get<std::string>();
    } else if (r.contains("choices")) {
      const auto& cs = r["choices"];
      if (!cs.is_array() || cs.empty())
        throw std::invalid_argument(at + ".choices: must be a non-empty array");
      for (size_t j = 0; j < cs.size(); ++j) {
        auto cat = at + ".choices[" + std::to_string(j) + "]";
        sim_choice c;
        if (cs[j].is_string()) {
          c.reply = cs[j].get<std::string>();
        } else if (cs[j].is_object() && cs[j].contains("reply") && cs[j]["reply"].is_string()) {
          c.reply = cs[j]["reply"].get<std::string>();
          c.weight = cs[j].value("weight", 1.0);
          if (c.weight < 0) throw std::invalid_argument(cat + ".weight: must be >= 0");
        } else {
          throw std::invalid_argument(cat + ": must be a string or {\"reply\", \"weight\"}");
        }
        rule.choices.push_back(std::move(c));
      }
    } else {
      throw std::invalid_argument(at + ": needs \"reply\" or \"choices\"");
    }
    parse_tool_turns(r, at, rule);
    out.push_back(std::move(rule));
  }
  return out;
}

sim_settings parse_sim_settings(const nlohmann::json& m, const std::string& where) {
  sim_settings s;
  s.seed = m.value("seed", uint64_t{1});
  if (m.contains("latency_ms")) {
    const auto& l = m["latency_ms"];
    if (l.is_number()) {
      s.latency_min_ms = s.latency_max_ms = l.get<int>();
    } else if (l.is_object()) {
      s.latency_min_ms = l.value("min", 0);
      s.latency_max_ms = l.value("max", s.latency_min_ms);
    } else {
      throw std::invalid_argument(where + ".latency_ms: must be a number or {\"min\", \"max\"}");
    }
    if (s.latency_min_ms < 0 || s.latency_max_ms < s.latency_min_ms)
      throw std::invalid_argument(where + ".latency_ms: needs 0 <= min <= max");
  }
  s.failure_rate = m.value("failure_rate", 0.0);
  if (s.failure_rate < 0 || s.failure_rate > 1)
    throw std::invalid_argument(where + ".failure_rate: must be between 0 and 1");
  if (m.contains("rules")) s.rules = parse_sim_rules(m["rules"], where + ".rules");
  return s;
}

}  // namespace cohort
