// tool_loop: an llm agent with tools. The model answers in turns (children[0]); each
// call of an answer runs as a branch of its own (children[1 + i] answers tools[i]), all
// of a turn in parallel under the engine's timeouts, retries, limits and cancellation;
// their results go back to the model as tool messages until it answers without calls,
// or max_turns is reached. Calls the model got wrong (an unknown tool, arguments that
// are not JSON or break the tool's schema) go back to it as errors, and never run.
#include "messages/input_limits.hpp"
#include "spec/json_schema.hpp"
#include "spec/scenario.hpp"
#include "spec/name_list.hpp"
#include "workflow/pattern.hpp"

namespace cohort {
namespace {

// Turns are numbered apart from calls (a call's index is its place in calls_).
constexpr size_t turn_flag = size_t{1} << 40;
// Calls in one answer beyond this are dropped (the report counts them): a model's flood
// becomes neither branches nor a transcript that grows without bound.
constexpr size_t max_calls_per_turn = 128;
// Of one call's result, what goes back to the model: every later turn carries it again,
// and a tool (an MCP server's above all) may answer megabytes.
constexpr size_t max_result_bytes = size_t{1} << 20;

const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json none;
  return j.is_object() && j.contains(key) ? j[key] : none;
}

std::string text_of(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `text` cut to max_result_bytes (at a character's start), saying so.
std::string within_result_limit(std::string text) {
  if (text.size() <= max_result_bytes) return text;
  auto whole = text.size();
  auto end = max_result_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // not inside a character
  text.resize(end);
  return text + "\n[cut: the result has " + std::to_string(whole) + " bytes; the first " +
         std::to_string(end) + " are shown]";
}

class tool_loop_pattern : public pattern {
 public:
  tool_loop_pattern(const workflow_node& node, const task& t, const run_context& ctx)
      : node_(node), agent_(ctx.spec->agents.at(node.agent)), path_(t.path), bindings_(bindings_of(t)) {}

  std::optional<branch> next() override {
    if (want_turn_) {
      want_turn_ = false;
      ++turns_;
      return make_branch(turn_flag + turns_, node_.children[0], bindings_, "turn" + std::to_string(turns_),
                         {{"transcript", transcript_}});
    }
    while (next_call_ < calls_.size()) {
      auto i = next_call_++;
      auto& c = calls_[i];
      if (c.tool == 0) continue;  // refused
      return make_branch(i, node_.children[c.tool], bindings_, c.label,
                         {{"arguments", c.arguments}, {"item", c.arguments}});
    }
    return std::nullopt;
  }

  std::optional<result> settle(size_t index, result r) override {
    return index >= turn_flag ? turn_ended(std::move(r)) : call_ended(index, std::move(r));
  }

  result idle() override {
    return failure(outcome::failed, "internal", path_ + ": the tool loop has nothing to run and no answer");
  }

  nlohmann::json partial() const override { return nullptr; }  // what was done is in the report

  std::vector<std::string> unstarted() const override {
    std::vector<std::string> labels;
    for (auto i = next_call_; i < calls_.size(); ++i)
      if (calls_[i].tool != 0) labels.push_back(calls_[i].label);
    return labels;
  }

  nlohmann::json report() override {
    auto calls = nlohmann::json::array();
    for (const auto& c : calls_)
      calls.push_back({{"id", c.id}, {"tool", c.name}, {"turn", c.turn}, {"status", c.status}, {"ms", c.ms}});
    nlohmann::json report{{"turns", turns_}, {"calls", std::move(calls)}, {"transcript", std::move(transcript_)}};
    if (dropped_ > 0) report["dropped_calls"] = dropped_;
    return report;
  }

 private:
  struct call {
    std::string id;            // the model's, echoed in the tool message
    std::string name;
    int turn = 0;
    nlohmann::json arguments;  // parsed (the text, when it was not JSON)
    size_t tool = 0;           // the child that answers it; 0: refused, never runs
    std::string label;         // its node path segment
    std::string status = "cancelled";  // until it ends
    std::string content;       // what goes back to the model
    int64_t ms = 0;
  };

  std::optional<result> turn_ended(result r) {
    if (!r.ok()) return passed_up(r);
    auto& calls = r.report.is_object() && r.report.contains("tool_calls") ? r.report["tool_calls"] : r.report;
    if (!calls.is_array() || calls.empty()) return success(std::move(r.output));
    if (calls.size() > max_calls_per_turn) {
      dropped_ += calls.size() - max_calls_per_turn;
      calls.erase(calls.begin() + max_calls_per_turn, calls.end());
    }
    transcript_.push_back({{"role", "assistant"}, {"content", member(r.report, "content")}, {"tool_calls", nullptr}});
    auto& kept = transcript_.back()["tool_calls"];
    kept = std::move(calls);  // the answer's calls: read from here on
    if (turns_ >= agent_.max_turns)
      return failure(outcome::failed, "max_turns_exceeded",
                     path_ + ": the model still called tools after " + std::to_string(turns_) +
                         " turns (max_turns); the transcript is in the report");
    turn_first_ = calls_.size();
    pending_ = 0;
    for (const auto& c : kept) add_call(c);
    if (pending_ == 0) close_turn();
    return std::nullopt;
  }

  void add_call(const nlohmann::json& c) {
    call x;
    x.turn = turns_;
    x.id = text_of(member(c, "id"));
    const auto& function = member(c, "function");
    x.name = member(function, "name").is_string() ? function["name"].get<std::string>() : "";
    x.label = "call" + std::to_string(calls_.size() + 1);
    calls_.push_back(std::move(x));
    auto& added = calls_.back();
    auto tool = tool_named(added.name);
    if (tool == 0)
      return refuse(added, "unknown_tool", "there is no tool \"" + added.name + "\" (tools: " + tool_names() + ")");
    added.label = added.name + "#" + std::to_string(calls_.size());
    std::string why;
    added.arguments = arguments_of(member(function, "arguments"), agent_.tools[tool - 1], why);
    if (!why.empty()) return refuse(added, "invalid_arguments", why);
    added.tool = tool;
    ++pending_;
  }

  // The arguments as an object, or why not (`why`): not JSON, not an object, or not
  // what the tool's schema asks.
  nlohmann::json arguments_of(const nlohmann::json& raw, const tool_use& tool, std::string& why) const {
    auto text = raw.is_string() ? raw.get<std::string>() : raw.is_null() ? "" : raw.dump();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) text = "{}";  // no arguments at all
    auto args = parse_untrusted_json_or_discarded(text);
    if (args.is_discarded()) {
      why = "the arguments are not JSON: " + text.substr(0, 200);
      return text;
    }
    if (!args.is_object()) {
      why = "the arguments must be a JSON object, not " + text.substr(0, 200);
      return args;
    }
    std::vector<std::string> problems;
    if (tool.arguments_schema) tool.arguments_schema->check(args, problems, "arguments");
    if (!problems.empty()) why = join(problems, "; ");
    return args;
  }

  void refuse(call& c, const std::string& kind, const std::string& why) {
    c.status = "refused";
    c.content = "error (" + kind + "): " + why;
  }

  std::optional<result> call_ended(size_t index, result r) {
    auto& c = calls_[index];
    c.status = to_string(r.status);
    c.ms = r.stats.end_ms - r.stats.start_ms;
    if (r.ok()) {
      c.content = within_result_limit(text_of(r.output));
    } else if (agent_.on_tool_error == tool_error_mode::fail) {
      return passed_up(r);
    } else {
      c.content = "error (" + r.error.kind + "): " + r.error.message;
    }
    if (--pending_ == 0) close_turn();
    return std::nullopt;
  }

  // Every call of the turn has its result: they go back to the model, in the order asked.
  void close_turn() {
    for (auto i = turn_first_; i < calls_.size(); ++i)
      transcript_.push_back({{"role", "tool"}, {"tool_call_id", calls_[i].id}, {"content", calls_[i].content}});
    want_turn_ = true;
  }

  // The child that answers the tool `name` (children[1 + i] answers tools[i]); 0: none.
  size_t tool_named(const std::string& name) const {
    for (size_t i = 0; i < agent_.tools.size(); ++i)
      if (agent_.tools[i].name == name) return i + 1;
    return 0;
  }

  std::string tool_names() const {
    std::vector<std::string> names;
    for (const auto& use : agent_.tools) names.push_back(use.name);
    return join(names, ", ");
  }

  const workflow_node& node_;
  const agent_def& agent_;
  std::string path_;
  binding_chain bindings_;
  nlohmann::json transcript_ = nlohmann::json::array();  // after the prompt: answers with calls, results
  std::vector<call> calls_;  // of every turn
  size_t turn_first_ = 0;    // the first call of the current turn
  size_t next_call_ = 0;     // the next call to start
  size_t pending_ = 0;       // calls of the current turn still running
  int turns_ = 0;
  size_t dropped_ = 0;       // calls beyond max_calls_per_turn in an answer
  bool want_turn_ = true;
};

}  // namespace

std::unique_ptr<pattern> make_tool_loop(const workflow_node& node, const task& t, const run_context& ctx) {
  return std::make_unique<tool_loop_pattern>(node, t, ctx);
}

}  // namespace cohort
