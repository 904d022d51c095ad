// simulation: a population of agent instances acting in rounds. In each round every
// instance acts once, seeing {{round}}, {{self}} (its variables), {{messages}} (what
// was sent to it last round), {{world}} and {{seed}}; the round ends when all have
// acted (the round's barrier, kept by this supervisor: nobody blocks a thread). Then
// the messages they named are delivered, in instance order and per-sender order, so
// the same seed gives the same transcript however the branches interleave; a world
// step may turn {{actions}} into the next {{world}}.
//
// An action is the agent's output. When it is an object, its "send" entries become
// messages (outgoing_messages.hpp) and its "state" object is merged into the
// instance's variables. Under fail_soft a failed action is null for that round.
#include <algorithm>
#include <cctype>

#include "agents/send_field.hpp"
#include "run/run_events.hpp"
#include "workflow/pattern.hpp"
#include "workflow/simulation_population.hpp"

namespace cohort {
namespace {

constexpr size_t inbox_capacity = 10000;  // messages one instance may get in a round (as a bus mailbox)
// Messages all instances may get in one round (about 200 MB): 2,000 agents broadcasting would be 4
// million (gigabytes of copies); a clear error instead.
constexpr size_t round_capacity = 250000;

std::string agreement_key(const nlohmann::json& output, const std::string& field) {
  const nlohmann::json* v = &output;
  if (!field.empty()) {
    if (!output.is_object() || !output.contains(field)) return {};
    v = &output[field];
  }
  if (!v->is_string()) return v->dump();
  auto s = v->get<std::string>();
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n.!");
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return "\"" + s;
}

class simulation_pattern : public pattern {
 public:
  simulation_pattern(const workflow_node& node, const task& t, population pop)
      : node_(node), rules_(node.simulation), path_(t.path), bindings_(bindings_of(t)), pop_(std::move(pop)),
        count_(pop_.instances.size()), world_(rules_.world) {
    inbox_.assign(count_, nlohmann::json::array());
    outbox_.resize(count_);
    actions_.resize(count_);
  }

  std::optional<branch> next() override {
    if (done_) return std::nullopt;
    if (!stepping_) {
      if (started_ == count_) return std::nullopt;
      return act(started_++);
    }
    if (step_started_) return std::nullopt;
    step_started_ = true;
    return make_branch(count_, rules_.world_step, bindings_, "world[" + std::to_string(round_) + "]",
                       {{"round", round_}, {"world", world_}, {"actions", actions_json(true)}});
  }

  std::optional<result> settle(size_t index, result r) override {
    if (index == count_) return world_stepped(std::move(r));
    ++settled_;
    if (auto failed = acted(index, std::move(r))) return failed;
    if (settled_ < count_) return std::nullopt;
    return end_round();
  }

  result idle() override { return failure(outcome::failed, "invalid_input", path_ + ": the simulation did not run"); }

  nlohmann::json partial() const override { return output(); }

  std::vector<std::string> unstarted() const override {
    std::vector<std::string> labels;
    if (!stepping_)
      for (auto i = started_; i < count_; ++i) labels.push_back(label(i));
    return labels;
  }

  nlohmann::json report() override {
    return {{"rounds", rounds_done_}, {"stopped", stopped_}, {"agents", count_}, {"messages", messages_delivered_},
            {"failed_actions", failed_actions_}};
  }

 private:
  std::string label(size_t i) const { return pop_.instances[i].name + "[r" + std::to_string(round_) + "]"; }

  branch act(size_t i) {
    auto& inst = pop_.instances[i];
    auto b = make_branch(i, inst.agent, bindings_, label(i));
    b.bindings["round"] = round_;
    b.bindings["self"] = inst.self;
    b.bindings["messages"] = std::move(inbox_[i]);  // delivered once
    inbox_[i] = nlohmann::json::array();
    b.bindings["world"] = world_;
    b.bindings["seed"] = mix_seed(rules_.seed, i, static_cast<uint64_t>(round_));
    return b;
  }

  // Records instance i's action; a failure under fail_fast (or a malformed "send") ends it.
  std::optional<result> acted(size_t i, result r) {
    auto& inst = pop_.instances[i];
    if (!r.ok()) {
      if (node_.policy != failure_mode::fail_soft) return passed_up(r);
      ++failed_actions_;
      actions_[i] = {{"error", r.error.kind + ": " + r.error.message}};
      return std::nullopt;
    }
    std::string bad;
    auto sends = read_sends(r.output, bad);
    if (!bad.empty()) {
      auto msg = path_ + ": " + label(i) + " named messages badly: " + bad;
      if (node_.policy != failure_mode::fail_soft) return failure(outcome::failed, "invalid_output", msg);
      ++failed_actions_;
      actions_[i] = {{"error", "invalid_output: " + msg}};
      return std::nullopt;
    }
    for (auto& m : sends) {
      for (const auto& name : m.to)
        if (!pop_.index_of.count(name))
          return failure(outcome::failed, "invalid_output",
                         path_ + ": " + label(i) + " sent a message to \"" + name + "\", who is not in the population");
      if (m.neighbours && inst.neighbours.empty() && rules_.topology != "all")
        return failure(outcome::failed, "invalid_output",
                       path_ + ": " + label(i) + " sent to @neighbours, but the simulation has no topology");
    }
    outbox_[i] = std::move(sends);
    if (r.output.is_object() && r.output.contains("state") && r.output["state"].is_object()) {
      auto name = inst.self["name"];
      auto index = inst.self["index"];
      inst.self.merge_patch(r.output["state"]);
      inst.self["name"] = std::move(name);  // who it is does not change
      inst.self["index"] = std::move(index);
    }
    actions_[i] = std::move(r.output);
    return std::nullopt;
  }

  // Everyone acted: deliver the messages, write the transcript, then the world step or
  // the next round.
  std::optional<result> end_round() {
    auto delivered = nlohmann::json::array();
    if (auto overflow = deliver(delivered)) return overflow;
    bool agreed = rules_.stop_on_agreement && agreement();
    if (rules_.transcript)
      transcript_.push_back({{"round", round_}, {"actions", actions_json(false)}, {"messages", std::move(delivered)}});
    rounds_done_ = round_;
    if (agreed) return finish("agreed");
    if (rules_.world_step) {
      stepping_ = true;
      step_started_ = false;
      return std::nullopt;
    }
    return next_round();
  }

  // Into next round's inboxes, by sender order: the same whatever order they acted in.
  std::optional<result> deliver(nlohmann::json& record) {
    size_t this_round = 0;
    auto put = [&](size_t from, size_t to, const nlohmann::json& content) -> bool {
      if (inbox_[to].size() >= inbox_capacity || ++this_round > round_capacity) return false;
      inbox_[to].push_back({{"from", pop_.instances[from].name}, {"content", content}});
      if (rules_.transcript)
        record.push_back({{"from", pop_.instances[from].name}, {"to", pop_.instances[to].name}, {"content", content}});
      ++messages_delivered_;
      return true;
    };
    for (size_t from = 0; from < count_; ++from) {
      for (const auto& m : outbox_[from]) {
        std::vector<size_t> targets;
        if (m.everyone || (m.neighbours && rules_.topology == "all")) {
          for (size_t to = 0; to < count_; ++to)
            if (to != from) targets.push_back(to);
        } else if (m.neighbours) {
          targets = pop_.instances[from].neighbours;
        } else {
          for (const auto& name : m.to) targets.push_back(pop_.index_of.at(name));
        }
        for (auto to : targets)
          if (!put(from, to, m.content))
            return failure(outcome::failed, "mailbox_full",
                           path_ + ": round " + std::to_string(round_) + ": " +
                               (this_round > round_capacity
                                    ? "more than " + std::to_string(round_capacity) + " messages in one round"
                                    : "the mailbox of \"" + pop_.instances[to].name + "\" holds " +
                                          std::to_string(inbox_capacity) + " messages") +
                               "; the one from \"" + pop_.instances[from].name + "\" to \"" +
                               pop_.instances[to].name + "\" was not delivered");
      }
      outbox_[from].clear();
    }
    return std::nullopt;
  }

  bool agreement() const {
    std::optional<std::string> first;
    for (const auto& a : actions_) {
      auto key = agreement_key(a, rules_.agree_field);
      if (key.empty() || (a.is_object() && a.contains("error") && !rules_.agree_field.empty())) return false;
      if (!first) first = key;
      else if (*first != key) return false;
    }
    return first.has_value();
  }

  std::optional<result> world_stepped(result r) {
    if (!r.ok()) return passed_up(r);
    stepping_ = false;
    bool stop = r.output.is_object() && r.output.value("stop", false);
    if (stop) r.output.erase("stop");
    world_ = std::move(r.output);
    if (rules_.transcript) transcript_.back()["world"] = world_;
    if (stop) return finish("world");
    return next_round();
  }

  std::optional<result> next_round() {
    if (round_ >= rules_.rounds) return finish("rounds");
    ++round_;
    started_ = settled_ = 0;
    return std::nullopt;
  }

  std::optional<result> finish(const char* why) {
    done_ = true;
    stopped_ = why;
    return success(output());
  }

  // The round's actions by instance: for the transcript, or (with state) for the world step.
  nlohmann::json actions_json(bool with_state) const {
    auto out = nlohmann::json::array();
    for (size_t i = 0; i < count_; ++i) {
      nlohmann::json a{{"name", pop_.instances[i].name}, {"output", actions_[i]}};
      if (with_state) a["self"] = pop_.instances[i].self;
      out.push_back(std::move(a));
    }
    return out;
  }

  nlohmann::json output() const {
    auto agents = nlohmann::json::object();
    for (const auto& inst : pop_.instances) agents[inst.name] = inst.self;
    nlohmann::json out{{"rounds", rounds_done_}, {"stopped", stopped_}, {"world", world_}, {"agents", std::move(agents)}};
    if (rules_.transcript) out["transcript"] = transcript_;
    return out;
  }

  const workflow_node& node_;
  const simulation_rules& rules_;
  std::string path_;
  binding_chain bindings_;
  population pop_;
  size_t count_;
  int round_ = 1;
  int rounds_done_ = 0;
  size_t started_ = 0;
  size_t settled_ = 0;
  bool stepping_ = false;
  bool step_started_ = false;
  bool done_ = false;
  std::string stopped_ = "running";
  nlohmann::json world_;
  std::vector<nlohmann::json> inbox_;                     // per instance, for the next round
  std::vector<std::vector<outgoing_message>> outbox_;     // per instance, this round
  std::vector<nlohmann::json> actions_;                   // per instance, this round
  nlohmann::json transcript_ = nlohmann::json::array();
  int64_t messages_delivered_ = 0;
  int64_t failed_actions_ = 0;
};

}  // namespace

std::unique_ptr<pattern> make_simulation(const workflow_node& node, const task& t, const run_context& ctx,
                                         result& error) {
  try {
    return std::make_unique<simulation_pattern>(node, t, build_population(node.simulation, make_scope(ctx, t)));
  } catch (const std::invalid_argument& e) {
    error = failure(outcome::failed, "invalid_input", e.what());  // names the population entry
    return nullptr;
  }
}

}  // namespace cohort
