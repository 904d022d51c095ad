#include "actors/sim_responder.hpp"

#include <random>
#include <stdexcept>

#include "messages/input_limits.hpp"

namespace cohort {
namespace {

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string last_user_message(const nlohmann::json& messages) {
  if (!messages.is_array()) return {};
  // Messages may come from a client (mock-llm): any of them may lack a key or be no object.
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (!it->is_object()) continue;
    auto role = it->find("role");
    auto content = it->find("content");
    if (role != it->end() && *role == "user" && content != it->end() && content->is_string())
      return content->get<std::string>();
  }
  return {};
}

int64_t prompt_chars(const nlohmann::json& messages) {
  int64_t n = 0;
  if (messages.is_array())
    for (auto& m : messages)
      if (auto content = m.is_object() ? m.find("content") : m.end(); content != m.end() && content->is_string())
        n += static_cast<int64_t>(content->get_ref<const std::string&>().size());
  return n;
}

// Expands {{0}}, {{1}}.. (capture groups) and {{prompt}} in a reply template.
std::string expand_reply(const std::string& tmpl, const std::vector<std::string>& m, const std::string& prompt) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    auto open = tmpl.find("{{", pos);
    auto close = open == std::string::npos ? open : tmpl.find("}}", open);
    if (close == std::string::npos) {
      out.append(tmpl, pos, std::string::npos);
      break;
    }
    out.append(tmpl, pos, open - pos);
    auto key = tmpl.substr(open + 2, close - open - 2);
    if (key == "prompt") {
      out += prompt;
    } else if (!key.empty() && key.size() <= 3 && key.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(key) < m.size()) {
      out += m[std::stoul(key)];
    } else {
      out.append(tmpl, open, close + 2 - open);  // not ours: keep it verbatim
    }
    pos = close + 2;
    // A rule's reply may repeat {{prompt}}: bound what it makes, as templates are bounded.
    if (out.size() > current_input_limits().max_rendered_bytes)
      throw std::length_error("the sim reply would be larger than " +
                              std::to_string(current_input_limits().max_rendered_bytes) +
                              " bytes (the limit, max_rendered_bytes)");
  }
  return out;
}

std::string default_text(const std::string& model, const std::string& prompt, uint64_t h) {
  static const char* openings[] = {"In short", "On balance", "Broadly", "To summarise",
                                   "From the evidence", "Put simply"};
  std::string excerpt = prompt.size() > 80 ? prompt.substr(0, 77) + "..." : prompt;
  char tag[8];
  std::snprintf(tag, sizeof tag, "%04x", static_cast<unsigned>(h & 0xffff));
  return std::string(openings[h % 6]) + ", regarding \"" + excerpt + "\": a considered answer (" +
         model + " #" + tag + ").";
}

}  // namespace

int64_t estimate_tokens(const std::string& text) {
  return std::max<int64_t>(1, (static_cast<int64_t>(text.size()) + 3) / 4);
}

int64_t estimate_prompt_tokens(const nlohmann::json& messages) {
  return std::max<int64_t>(1, (prompt_chars(messages) + 3) / 4);
}

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

sim_responder::sim_responder(sim_settings settings) : settings_(std::move(settings)) {}

sim_responder::answer sim_responder::respond(const nlohmann::json& messages, uint64_t salt) const {
  uint64_t h = fnv1a(messages.dump(), settings_.seed * 0x9E3779B97F4A7C15ull + salt);
  std::mt19937_64 rng(h);
  answer a;
  a.latency_ms = settings_.latency_min_ms;
  if (settings_.latency_max_ms > settings_.latency_min_ms)
    a.latency_ms = std::uniform_int_distribution<int>(settings_.latency_min_ms,
                                                      settings_.latency_max_ms)(rng);
  a.fail = settings_.failure_rate > 0 &&
           std::uniform_real_distribution<double>(0, 1)(rng) < settings_.failure_rate;
  auto prompt = last_user_message(messages);
  bool matched = false;
  for (const auto& rule : settings_.rules) {
    auto m = rule.regex.search(prompt);
    if (!m) continue;
    matched = true;
    if (!rule.choices.empty()) {
      std::vector<double> weights;
      for (auto& c : rule.choices) weights.push_back(c.weight);
      std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
      a.text = expand_reply(rule.choices[pick(rng)].reply, *m, prompt);
    } else {
      a.text = expand_reply(rule.reply, *m, prompt);
    }
    break;
  }
  if (!matched) a.text = default_text(settings_.name, prompt, h);
  a.prompt_tokens = estimate_prompt_tokens(messages);
  a.completion_tokens = estimate_tokens(a.text);
  return a;
}

}  // namespace cohort
