#include "spec/scenario.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "messages/input_limits.hpp"
#include "spec/model_reader.hpp"
#include "spec/name_list.hpp"
#include "spec/output_schema.hpp"
#include "spec/schema_check.hpp"
#include "spec/template.hpp"
#include "spec/tool_uses.hpp"
#include "spec/workflow_loader.hpp"

namespace cohort {
namespace {

class loader {
 public:
  // `taken_input`: the input, already moved out of `doc` by the caller.
  loader(const nlohmann::json& doc, std::string origin, const std::vector<std::string>& tools, const mcp_access& mcp,
         std::shared_ptr<const nlohmann::json> taken_input = nullptr)
      : doc_(doc), tools_(tools.begin(), tools.end()), mcp_(mcp), taken_input_(std::move(taken_input)) {
    out_.origin = std::move(origin);
  }

  scenario run() {
    check_against_schema(doc_, problems_);
    check_number_ranges(doc_, "$", problems_);
    if (!problems_.empty()) throw scenario_error(out_.origin, problems_);
    out_.name = doc_.value("name", "scenario");
    out_.timeout_ms = doc_.value("timeout_ms", 0);
    out_.retry_budget = doc_.value("retry_budget", out_.retry_budget);
    out_.placement = parse_name_at(doc_.value("placement_policy", "least_loaded"), "$.placement_policy", problems_,
                                   placement_policy::least_loaded);
    if (taken_input_) out_.input = std::move(taken_input_);
    else if (doc_.contains("input")) out_.input = std::make_shared<const nlohmann::json>(doc_["input"]);
    // A scenario of tool agents alone needs no models.
    const auto models = doc_.value("models", nlohmann::json::object());
    for (auto& [name, m] : models.items()) load_model(name, m);
    const auto barriers = doc_.value("barriers", nlohmann::json::object());
    for (auto& [name, parties] : barriers.items()) out_.barriers[name] = parties.get<uint32_t>();
    for (auto& [name, a] : doc_["agents"].items()) load_agent(name, a);
    if (doc_.contains("mcp_servers")) out_.mcp_servers = detail::read_mcp_servers(doc_["mcp_servers"], problems_);
    for (const auto& [name, server] : mcp_.servers) out_.mcp_servers.emplace(name, server);  // the scenario's own win
    detail::expand_mcp_tools(out_.agents, out_.mcp_servers, mcp_.list, problems_);
    detail::settle_tool_uses(out_.agents, problems_);
    load_resources();
    out_.workflow = load_workflow(doc_["workflow"], out_, problems_);
    if (!problems_.empty()) throw scenario_error(out_.origin, problems_);
    auto source = doc_;
    source.erase("input");
    out_.source = std::make_shared<const nlohmann::json>(std::move(source));
    return std::move(out_);
  }

 private:
  void problem(const std::string& path, const std::string& what) {
    problems_.push_back(path + ": " + what);
  }

  void load_model(const std::string& name, const nlohmann::json& m) {
    out_.models.emplace(name, detail::read_model(name, m, problems_));
  }

  void load_agent(const std::string& name, const nlohmann::json& a) {
    auto path = "$.agents." + name;
    if (name.find('/') != std::string::npos)  // an agent's name labels its nodes, and node paths join labels with '/'
      problem(path, "the agent name \"" + name + "\" contains '/', which separates the parts of a node path");
    agent_def d;
    d.name = name;
    d.type = parse_name_at(a.value("type", "llm"), path + ".type", problems_, agent_type::llm);
    d.timeout_ms = a.value("timeout_ms", 0);
    d.pool = a.value("pool", 0);
    if (d.type == agent_type::llm) {
      d.model = a.value("model", "");
      if (!out_.models.count(d.model))
        problem(path + ".model", "unknown model \"" + d.model + "\" (" + known_keys(out_.models) + ")");
      d.system = a.value("system", "");
      d.prompt = a.value("prompt", "");
      d.json_output = a.value("output", "text") == "json";
      if (a.contains("params")) d.params = a["params"];
      if (a.contains("output_schema") && out_.models.count(d.model))
        read_output_schema(d, a, out_.models.at(d.model), path, problems_);
      check_template(path + ".system", d.system);
      check_template(path + ".prompt", d.prompt);
    } else if (d.type == agent_type::a2a) {
      d.prompt = a.value("prompt", "");
      check_template(path + ".prompt", d.prompt);
      d.url = a.value("url", "");
      d.api_key_env = a.value("api_key_env", "");
      d.poll_ms = a.value("poll_ms", d.poll_ms);
      d.stream = a.value("stream", false);
      if (!detail::plain_http_url(d.url)) problem(path + ".url", "not an http or https URL: \"" + d.url + "\"");
    } else if (d.type == agent_type::external) {
      // A program outside the run: the run waits for its result, never without a limit.
      if (d.timeout_ms == 0) d.timeout_ms = 60000;
      if (d.pool > 0) problem(path + ".pool", "an external agent is one program: it has no pool");
    } else {
      d.tool = a.value("tool", "");
      if (!tools_.count(d.tool))
        problem(path + ".tool", "unknown tool \"" + d.tool + "\" (registered: " +
                                    join({tools_.begin(), tools_.end()}, ", ") + ")");
      if (a.contains("input")) d.input = a["input"];
      check_json_template(path + ".input", d.input);
      d.detached = a.value("detached", false);
    }
    detail::read_tool_keys(d, a, path, problems_);
    if (a.contains("coordination")) load_coordination(d, a["coordination"], path + ".coordination");
    if (a.contains("placement")) load_placement(d, a["placement"], path + ".placement");
    out_.coordinated = out_.coordinated || d.coordination.enabled || d.detached || d.type == agent_type::external;
    out_.agents.emplace(name, std::move(d));
  }

  void load_placement(agent_def& d, const nlohmann::json& p, const std::string& path) {
    d.placement = placement_rule_of(p);
    if (d.placement->kind == placement_rule::where::labels && runs_on_head_only(d))
      problem(path, "this agent runs on the head only (an external, coordinating, detached, pooled or MCP agent): "
                    "it cannot be placed by labels");
  }

  void load_coordination(agent_def& d, const nlohmann::json& c, const std::string& path) {
    auto& co = d.coordination;
    co.enabled = true;
    co.as = c.value("as", "");
    check_template(path + ".as", co.as);
    co.send = c.value("send", false);
    if (c.contains("receive")) {
      const auto& r = c["receive"];
      co.receive = r.is_object() ? r.value("count", 1) : r.get<int>();
      if (r.is_object()) co.receive_timeout_ms = r.value("timeout_ms", 0);
    }
    if (!c.contains("barrier")) return;
    const auto& b = c["barrier"];
    if (b.is_string()) {
      co.barrier = b.get<std::string>();
      if (!out_.barriers.count(co.barrier))
        problem(path + ".barrier", "unknown sync point \"" + co.barrier +
                                       "\": declare its parties in \"barriers\", or give {\"name\", \"parties\"}");
      return;
    }
    co.barrier = b.value("name", "");
    co.barrier_before = b.value("at", "after") == "before";
    co.barrier_timeout_ms = b.value("timeout_ms", 0);
    auto parties = b.value("parties", 1u);
    auto [it, added] = out_.barriers.emplace(co.barrier, parties);
    if (!added && it->second != parties)
      problem(path + ".barrier.parties", "sync point \"" + co.barrier + "\" already has " +
                                             std::to_string(it->second) + " parties, not " + std::to_string(parties));
  }

  // Declared resources ("resources": {"gpu": 2}), then the ones the run implies: its
  // agent limit and every agent pool. A branch claims them through resource_needs.
  void load_resources() {
    auto add = [&](const std::string& name, int capacity) {
      out_.resource_names.push_back(name);
      out_.resource_capacity.push_back(capacity);
      return out_.resource_names.size() - 1;
    };
    const auto declared = doc_.value("resources", nlohmann::json::object());
    for (auto& [name, capacity] : declared.items()) {
      // Checked here, not by the JSON Schema's pattern: valijson's std::regex crashed on a long name.
      auto plain = [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; };
      if (name.empty() || !std::all_of(name.begin(), name.end(), plain))
        problem("$.resources", "\"" + name.substr(0, 64) + "\" is not a resource name (letters, digits, '_', '.', '-')");
      add(name, capacity.get<int>());
    }
    out_.max_concurrency = doc_.value("max_concurrency", 0);
    std::optional<size_t> run_limit;
    if (out_.max_concurrency > 0) run_limit = add("run:agents", out_.max_concurrency);
    for (auto& [name, agent] : out_.agents) {
      if (run_limit) agent.needs.push_back({*run_limit, 1});
      if (agent.pool <= 0) continue;
      agent.instance_pool = add("pool:" + name, agent.pool);
      agent.needs.push_back({*agent.instance_pool, 1});
    }
  }

  void check_template(const std::string& path, const std::string& tmpl) {
    try {
      template_refs(tmpl);
    } catch (const template_error& e) {
      problem(path, std::string("bad template: ") + e.what());
    }
  }

  void check_json_template(const std::string& path, const nlohmann::json& j) {
    if (j.is_string()) check_template(path, j.get<std::string>());
    if (j.is_object())
      for (auto& [k, v] : j.items()) check_json_template(path + "." + k, v);
    if (j.is_array())
      for (size_t i = 0; i < j.size(); ++i) check_json_template(path + "[" + std::to_string(i) + "]", j[i]);
  }

  const nlohmann::json& doc_;
  std::set<std::string> tools_;
  const mcp_access& mcp_;
  std::shared_ptr<const nlohmann::json> taken_input_;
  scenario out_;
  std::vector<std::string> problems_;
};

std::string line_and_column(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

bool model_def::needs_pool() const {
  if (provider != model_provider::openai) return false;
  if (endpoints.size() > 1 || breaker_given) return true;
  return std::any_of(endpoints.begin(), endpoints.end(), [](const endpoint_def& e) { return e.rpm > 0 || e.tpm > 0; });
}

placement_rule placement_rule_of(const nlohmann::json& written) {
  placement_rule rule;
  if (written.is_string()) {
    rule.kind = written == "local" ? placement_rule::where::local : placement_rule::where::any;
    return rule;
  }
  rule.kind = placement_rule::where::labels;
  for (auto& [k, v] : written["labels"].items()) rule.labels[k] = v.get<std::string>();
  return rule;
}

bool runs_on_head_only(const agent_def& agent) {
  return agent.type == agent_type::external || agent.coordination.enabled || agent.detached || agent.pool > 0 ||
         !agent.mcp_server.empty();
}

model_def model_def::for_endpoint(size_t i) const {
  model_def m = *this;
  m.base_url = endpoints.at(i).base_url;
  m.max_in_flight = endpoints.at(i).max_in_flight;
  m.endpoints = {endpoints.at(i)};
  return m;
}

scenario_error::scenario_error(std::string origin, std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string msg = "invalid scenario " + origin + ":";
        for (auto& p : problems) msg += "\n  " + p;
        return msg;
      }()),
      problems_(std::move(problems)) {}

scenario load_scenario(const nlohmann::json& doc, const std::string& origin,
                       const std::vector<std::string>& tool_names, const mcp_access& mcp) {
  return loader(doc, origin, tool_names, mcp).run();
}

scenario load_scenario(nlohmann::json&& doc, const std::string& origin,
                       const std::vector<std::string>& tool_names, const mcp_access& mcp) {
  if (!doc.is_object() || !doc.contains("input")) return loader(doc, origin, tool_names, mcp).run();
  auto input = std::make_shared<const nlohmann::json>(std::move(doc["input"]));
  doc.erase("input");
  return loader(doc, origin, tool_names, mcp, std::move(input)).run();
}

scenario load_scenario_file(const std::string& path, const std::vector<std::string>& tool_names,
                            const mcp_access& mcp) {
  std::string text;
  try {
    text = read_bounded_file(path);
  } catch (const input_error& e) {
    throw scenario_error(path, {e.detail});
  }
  auto limit = current_input_limits().max_json_depth;
  if (json_depth(text, limit) > limit)
    throw scenario_error(path, {"JSON nested deeper than " + std::to_string(limit) + " levels (the limit, max_json_depth)"});
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw scenario_error(path, {"line " + line_and_column(text, e.byte ? e.byte - 1 : 0) +
                                ": JSON syntax error: " + e.what()});
  } catch (const nlohmann::json::exception& e) {  // a number too large even for a double
    throw scenario_error(path, {std::string("not valid JSON: ") + e.what()});
  }
  return load_scenario(std::move(doc), path, tool_names, mcp);
}

}  // namespace cohort
