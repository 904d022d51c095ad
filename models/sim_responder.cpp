#include "models/sim_responder.hpp"

#include <random>
#include <stdexcept>

#include "messages/input_limits.hpp"
#include "models/token_estimate.hpp"

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

// What the conversation holds after its last user message: how many answers called
// tools, and the results of the last turn of calls.
struct tool_progress {
  size_t turns = 0;
  std::string results;  // the tool messages' contents since the last call, one a line
};

tool_progress progress_of(const nlohmann::json& messages) {
  tool_progress p;
  if (!messages.is_array()) return p;
  for (const auto& m : messages) {
    if (!m.is_object()) continue;
    auto role = m.value("role", nlohmann::json()).is_string() ? m["role"].get<std::string>() : std::string();
    if (role == "user") p = {};
    if (role == "assistant" && m.contains("tool_calls")) {
      ++p.turns;
      p.results.clear();
    }
    if (role == "tool" && m.contains("content") && m["content"].is_string())
      p.results += (p.results.empty() ? "" : "\n") + m["content"].get<std::string>();
  }
  return p;
}

// Expands {{0}}, {{1}}.. (capture groups), {{prompt}} and {{tool_results}} in a reply template.
std::string expand_reply(const std::string& tmpl, const std::vector<std::string>& m, const std::string& prompt,
                         const std::string& tool_results = {}) {
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
    } else if (key == "tool_results") {
      out += tool_results;
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

// Arguments with their string values expanded as reply templates.
nlohmann::json expand_arguments(const nlohmann::json& args, const std::vector<std::string>& m,
                                const std::string& prompt) {
  if (args.is_string()) return expand_reply(args.get<std::string>(), m, prompt);
  if (!args.is_object() && !args.is_array()) return args;
  auto out = args;
  for (auto& v : out) v = expand_arguments(v, m, prompt);
  return out;
}

nlohmann::json scripted_calls(const std::vector<sim_tool_call>& turn, size_t number,
                              const std::vector<std::string>& m, const std::string& prompt) {
  auto calls = nlohmann::json::array();
  for (size_t i = 0; i < turn.size(); ++i) {
    auto id = "call_" + std::to_string(number) + "_" + std::to_string(i + 1);
    auto args = expand_arguments(turn[i].arguments, m, prompt).dump();
    calls.push_back({{"id", id}, {"type", "function"}, {"function", {{"name", turn[i].name}, {"arguments", args}}}});
  }
  return calls;
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
    auto progress = rule.tool_turns.empty() ? tool_progress{} : progress_of(messages);
    if (progress.turns < rule.tool_turns.size()) {
      a.tool_calls = scripted_calls(rule.tool_turns[progress.turns], progress.turns + 1, *m, prompt);
    } else if (!rule.choices.empty()) {
      std::vector<double> weights;
      for (auto& c : rule.choices) weights.push_back(c.weight);
      std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
      a.text = expand_reply(rule.choices[pick(rng)].reply, *m, prompt, progress.results);
    } else {
      a.text = expand_reply(rule.reply, *m, prompt, progress.results);
    }
    break;
  }
  if (!matched) a.text = default_text(settings_.name, prompt, h);
  a.prompt_tokens = estimate_prompt_tokens(messages);
  a.completion_tokens = estimate_tokens(a.tool_calls.is_null() ? a.text : a.tool_calls.dump());
  return a;
}

}  // namespace cohort
