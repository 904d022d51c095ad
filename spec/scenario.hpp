#pragma once
// A scenario: models, agents, the workflow tree and the input, loaded from JSON and
// validated before anything runs. Every error names the JSON path and what is wrong.
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/sim_settings.hpp"
#include "spec/vocabulary.hpp"

namespace cohort {

// One server behind a model alias, with its own limits (0 = unlimited).
struct endpoint_def {
  std::string base_url;            // e.g. http://127.0.0.1:8000/v1
  int max_in_flight = 64;
  int64_t rpm = 0;                 // requests per minute
  int64_t tpm = 0;                 // tokens per minute (prompt + completion)
  double weight = 1.0;             // share of the load relative to the others
  // https: the CA file trusted besides the system store, and whether certificates are
  // checked at all (false is unsafe: anyone on the path can read and answer the calls).
  std::string ca_file;
  bool tls_verify = true;
  std::map<std::string, std::string> headers;  // sent with every request (never logged)
};

// The circuit breaker of each endpoint: open after `failures` consecutive failures,
// probe once after `open_ms`.
struct breaker_def {
  int failures = 5;
  int open_ms = 2000;
};

struct model_def {
  std::string name;
  model_provider provider = model_provider::sim;
  sim_settings sim;                // provider "sim"
  // provider "openai": the endpoints (the single `base_url` form is one endpoint).
  std::vector<endpoint_def> endpoints;
  std::string balance = "least_outstanding";
  affinity_mode affinity = affinity_mode::none;  // keep a run's or an agent's calls on one endpoint
  breaker_def breaker;
  bool breaker_given = false;      // asked for explicitly (a lone endpoint gets none otherwise)
  // One endpoint's HTTP client reads these two (see for_endpoint).
  std::string base_url;
  int max_in_flight = 64;
  std::string model;               // the model name sent to the server
  std::string api_key_env;         // environment variable holding the API key
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 120000;
  nlohmann::json params = nlohmann::json::object();  // merged into every request body
  bool stream = false;             // ask for SSE: text deltas become token events
  bool takes_json_schema = false;  // response_format json_schema (else an output_schema is an instruction)
  bool via_head = false;           // on a cluster: workers' agents call it through the head's pool
  // "price": what a million prompt / completion tokens cost (any currency; 0 = free).
  double prompt_price_per_million = 0;
  double completion_price_per_million = 0;
  double cost(int64_t prompt_tokens, int64_t completion_tokens) const {
    return (static_cast<double>(prompt_tokens) * prompt_price_per_million +
            static_cast<double>(completion_tokens) * completion_price_per_million) / 1e6;
  }

  // The pool sits in front only when it has work to do: several endpoints, a rate
  // limit or a breaker; a lone plain endpoint is its HTTP client, with no extra hop.
  bool needs_pool() const;
  // This model as seen by the HTTP client of endpoint i.
  model_def for_endpoint(size_t i) const;
};

// A branch's claim on a resource pool of the run (scenario.resource_names[pool]).
struct resource_need {
  size_t pool = 0;
  int amount = 1;
};
using resource_needs = std::vector<resource_need>;

// How an agent takes part in its run's bus and barriers (docs/coordination.md).
struct agent_coordination {
  bool enabled = false;            // "coordination" given: the agent uses the run's bus
  std::string as;                  // its name on the bus, a template ("analyzer-{{index}}"); "" = the agent's
  int receive = 0;                 // waits for this many messages before it acts
  int receive_timeout_ms = 0;      // 0 = the agent's timeout
  bool send = false;               // its output's "send" entries go out on the bus
  std::string barrier;             // meets the others at this sync point (scenario::barriers)
  bool barrier_before = false;     // before it acts; else once its output and messages are out
  int barrier_timeout_ms = 0;      // 0 = the agent's timeout
};

// Trying a failed branch again: up to max_attempts in all, after a wait drawn uniformly
// from [0, min(max_backoff_ms, backoff_ms * 2^(retry - 1))] ("full jitter"), or what a
// 429's Retry-After asks, when the error is of a class in `on`.
struct retry_policy {
  int max_attempts = 1;            // 1: no retry
  int backoff_ms = 200;
  int max_backoff_ms = 10000;
  std::vector<std::string> on{"timeout", "rate_limited", "server_error", "connection", "node_lost"};
};

class json_schema;  // spec/json_schema.hpp

// An MCP server whose tools agents may call: a child process spoken to over stdio
// (agents/mcp_client.hpp).
struct mcp_server_def {
  std::string name;                          // for messages
  std::string command;                       // stdio: found on PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;    // stdio: added to the runtime's environment
  std::string url;                           // Streamable HTTP: the server's MCP endpoint (else stdio)
  std::string api_key_env;                   // Streamable HTTP: the variable of its bearer token
  int timeout_ms = 30000;                    // each request's
};

// One entry of an llm agent's "tools": the agent (or the workflow) that answers the
// call, under the name the model sees, with the call's own timeout and retry.
struct tool_use {
  std::string name;                // the function name the model calls
  std::string agent;               // "" for a workflow
  std::string mcp_server;          // "mcp:server/tool" or "mcp:server" (every tool): expanded at load
  std::string mcp_tool;
  nlohmann::json workflow;         // a workflow node that answers the call (its task: the arguments)
  std::string description;         // a workflow's own; an agent's comes from the agent
  nlohmann::json parameters;
  std::shared_ptr<const json_schema> arguments_schema;  // what the call's arguments must match
  int timeout_ms = 0;              // 0: the run's limits only
  retry_policy retry;
};

// Where a leaf agent's branches run when the node has workers (docs/cluster.md):
// anywhere (a worker, or the head when it has none), on the head, or only on a worker
// whose labels include all of `labels`. Written on an agent, or on a pattern for the
// agents below it that state none.
struct placement_rule {
  enum class where { any, local, labels };
  where kind = where::any;
  std::map<std::string, std::string> labels;
};

// "any", "local" or {"labels": {...}}, of a shape the scenario's JSON Schema has checked.
placement_rule placement_rule_of(const nlohmann::json& written);

struct agent_def {
  std::string name;
  agent_type type = agent_type::llm;
  std::string model;               // llm
  std::string system;              // llm: system message template
  std::string prompt;              // llm: user message template; a2a: the message's text
  bool json_output = false;        // llm: parse the reply as JSON
  // llm: the JSON Schema the answer must match; an answer that does not is sent back
  // with its problems, up to max_repairs times (docs/tools.md, "Structured output").
  nlohmann::json output_schema;
  std::shared_ptr<const json_schema> output_check;  // output_schema, compiled
  std::string schema_instruction;  // for a model without json_schema: how to answer
  int max_repairs = 2;
  nlohmann::json params = nlohmann::json::object();  // llm: request options
  std::string tool;                // tool: registered tool name
  nlohmann::json input;            // tool: JSON template of the tool's input (null = default)
  int timeout_ms = 0;              // 0 = inherit
  int pool = 0;                    // > 0: this many started instances, borrowed by branches
  std::optional<size_t> instance_pool;  // the resource pool of those instances
  resource_needs needs;            // implied by the run (its agent limit, this agent's pool)
  agent_coordination coordination;
  bool detached = false;           // tool: runs on a thread of its own (may wait on the bus, barrier, board)
  std::string mcp_server;          // tool: a tool of this MCP server (made by the loader: "mcp:server/tool")
  std::string mcp_tool;
  std::string url;                 // a2a: the remote agent's JSON-RPC endpoint
  std::string api_key_env;         // a2a: its bearer token's variable
  int poll_ms = 200;               // a2a: how often a running remote task is asked for
  bool stream = false;             // a2a: message/stream, its pieces as token events
  std::optional<placement_rule> placement;  // on a cluster: where its branches run (none: the pattern's)

  // llm: the tools the model may call, and how the loop runs (docs/tools.md). Their
  // "tools" request array is added to params where the scenario is loaded.
  std::vector<tool_use> tools;
  int max_turns = 10;              // model answers in one task, the last without calls
  tool_error_mode on_tool_error = tool_error_mode::tell_model;
  int max_tool_concurrency = 0;    // calls of one answer running at once; 0: no limit
  // As a tool: what it does and the JSON Schema of its arguments (null: any object).
  std::string description;
  nlohmann::json parameters;
  std::shared_ptr<const json_schema> arguments_schema;  // `parameters`, compiled
};

// An agent that needs what only the head has (a bus, barrier, desk, instance pool, MCP
// server or thread of its own, or it is an outside program): never placed on a worker.
bool runs_on_head_only(const agent_def& agent);

struct workflow_node;
using node_ptr = std::shared_ptr<const workflow_node>;

// How a multi-branch pattern combines its branch outputs.
struct aggregation {
  aggregation_kind kind = aggregation_kind::collect;
  std::string separator = "\n\n";  // join
  merge_mode merge = merge_mode::deep;  // merge
  node_ptr agent;                  // reduce: folds (acc, item) -> acc; synthesize: writes one answer
  nlohmann::json reduce_initial;   // reduce: start value; null = first result
};

// When a result is good enough (race, loop): every check that is set must pass.
struct acceptance {
  bool non_empty = true;           // not null, "", [] or {}
  cohort::regex regex;             // the output text must contain a match (empty: no check)
  std::vector<std::string> json_fields;  // the output must be an object with these keys
  node_ptr judge;                  // an agent that sees {{candidate}} and says yes or no
};

// How votes are read and counted (vote pattern and the vote aggregation).
struct vote_rules {
  bool trim = true;
  bool fold_case = true;
  std::string field;               // take this field of a JSON answer
  cohort::regex regex;             // take the first capture group (or the whole match)
  bool require_majority = false;   // more than half the total weight, else an error
};

struct tree_rules {
  std::string problem = "input";   // where the root problem is: a path such as input.numbers
  node_ptr split;                  // {{item}} -> an array of parts, or {"parts": [...], ...}
  node_ptr combine;                // {{results}} (solved parts), {{split}}, {{item}} -> answer
  node_ptr leaf;                   // solves a base case; none = the problem is its own answer
  int max_depth = 8;
  int base_max_size = 1;           // an array or string this short is a base case
  bool nested = false;             // a level below the root: the problem is {{item}}, the level {{depth}}
};

struct plan_rules {
  node_ptr planner;                // writes {"nodes": [{id, role, task, depends_on}]}
  std::vector<std::string> roles;  // agents a plan may use, by name
  int max_attempts = 3;            // asks again, with {{feedback}}, when the plan is invalid
  int max_nodes = 50;
};


// One kind of agent in a simulation's population, instantiated once per entry of
// `instances` (or `count` times): each instance has its own name and variables.
struct population_group {
  node_ptr agent;                  // what every instance runs each round
  std::string json_path;
  int count = 1;                   // without `instances`
  std::string name;                // template over {{index}} (in the group) and {{vars}}; "" = agent-{{index}}
  nlohmann::json vars = nlohmann::json::object();  // every instance starts with these
  nlohmann::json instances;        // an array of per-instance variables, or null
  std::string instances_from;      // or where such an array is: "input.people"
};

// A simulation: R rounds in which every instance acts, sends messages and meets the
// others at the round's barrier; a world step may run between rounds.
struct simulation_rules {
  std::vector<population_group> population;
  int rounds = 1;
  uint64_t seed = 1;               // {{seed}} and random topologies derive from it
  nlohmann::json world = nlohmann::json::object();  // the initial world state
  node_ptr world_step;             // {{round}}, {{world}}, {{actions}} -> the next world
  std::string topology = "none";   // none | all | ring | random: who "@neighbours" are
  int degree = 2;                  // ring and random: neighbours of each instance
  bool stop_on_agreement = false;  // end early once every action agrees
  std::string agree_field;         // compare this field of the actions (else the whole output)
  bool transcript = true;          // keep every round's actions and messages in the output
};

struct workflow_node {
  node_kind kind = node_kind::agent;
  std::string json_path;           // where it was defined: "$.workflow.steps[1]"
  std::string label;               // short name for progress lines and node paths
  std::string agent;               // agent: the agent's name
  nlohmann::json with;             // extra bindings for this node's task (an object or null)
  double weight = 1.0;             // as a voter
  int timeout_ms = 0;              // this node as a branch; 0 = inherit
  int required = -1;               // as a branch: 1 required, 0 optional, -1 as the parent's policy says
  retry_policy retry;              // as a branch
  resource_needs needs;            // as a branch: held while it runs (declared "needs")
  std::optional<int> priority;     // as a branch, and inherited below: higher starts first
  std::optional<placement_rule> placement;  // on a cluster, inherited below: where leaf agents run

  std::vector<node_ptr> children;  // steps, branches, runners, voters, DAG nodes, alternatives
  node_ptr each;                   // fan_out over items: one per item; loop: the body
  std::string over;                // fan_out over items: "input.x", "results", "item.y"
  int max_concurrency = 0;         // 0 = no limit
  aggregation aggregate;
  failure_mode policy = failure_mode::fail_fast;  // fan_out, dag
  int min_success = 1;             // fan_out under fail_soft

  // dag: children[i] has id ids[i] and waits for the children numbered deps[i].
  std::vector<std::string> ids;
  std::vector<std::vector<size_t>> deps;
  std::string output_of;           // dag: the output is this node's (else all, by id)

  acceptance accept;               // race, loop
  vote_rules vote;                 // vote (and the vote aggregation)
  tree_rules tree;
  plan_rules plan;
  simulation_rules simulation;
  int max_iterations = 3;          // loop
  bool keep_last = false;          // loop: when nothing passes, answer the last try
};

struct scenario {
  std::string name;
  std::string origin;              // the file it came from, or "<json>"
  std::map<std::string, model_def> models;
  std::map<std::string, agent_def> agents;
  std::map<std::string, mcp_server_def> mcp_servers;
  std::shared_ptr<const workflow_node> workflow;
  std::shared_ptr<const nlohmann::json> input = std::make_shared<const nlohmann::json>(nlohmann::json::object());
  int timeout_ms = 0;              // whole run; 0 = the runtime default
  int retry_budget = 1000;         // retries allowed in one run, all branches together
  int max_concurrency = 0;         // agents in flight in the whole run; 0 = no limit
  // The run's resource pools: declared resources, then the implied ones
  // ("run:agents" for max_concurrency, "pool:NAME" for an agent's pool).
  std::vector<std::string> resource_names;
  std::vector<int> resource_capacity;
  std::map<std::string, uint32_t> barriers;  // the run's sync points: name -> parties
  // The run gets its own bus, barrier and blackboard actors: some agent coordinates,
  // or a detached tool agent may reach them through its ToolCall.
  bool coordinated = false;
  placement_policy placement = placement_policy::least_loaded;  // on a cluster: which worker
  // The document it was loaded from, without its input: a worker of a cluster loads it too.
  std::shared_ptr<const nlohmann::json> source;
};

// Thrown with every problem found, each as "JSON path: what is wrong".
class scenario_error : public std::runtime_error {
 public:
  scenario_error(std::string origin, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// The tools of an MCP server (its tools/list), for agents whose "tools" name it; throws
// std::exception saying why it could not list them. A Runtime lists them through its
// MCP clients; without one, a scenario naming MCP tools does not load.
using mcp_tool_lister = std::function<nlohmann::json(const mcp_server_def&)>;

// What a scenario's MCP tools are read with: how a server's tools are listed, and the
// servers the runtime offers every scenario (its config's "mcp_servers"; a scenario's
// own server of the same name wins).
struct mcp_access {
  mcp_tool_lister list;
  std::map<std::string, mcp_server_def> servers;
};

// Parses and validates. `tool_names` are the tools a tool agent may name.
scenario load_scenario_file(const std::string& path, const std::vector<std::string>& tool_names,
                            const mcp_access& mcp = {});
scenario load_scenario(const nlohmann::json& doc, const std::string& origin,
                       const std::vector<std::string>& tool_names, const mcp_access& mcp = {});
// The same, taking the input out of `doc` instead of copying it (a large input).
scenario load_scenario(nlohmann::json&& doc, const std::string& origin,
                       const std::vector<std::string>& tool_names, const mcp_access& mcp = {});

// The value at `path` ("input.items") in a run input, or nullptr.
const nlohmann::json* input_value(const nlohmann::json& input, const std::string& path);

// Checks a replacement input against the scenario's workflow (the `over` paths).
void validate_input(const scenario& s, const nlohmann::json& input);

}  // namespace cohort
