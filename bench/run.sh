#!/usr/bin/env bash
# make bench: orchestration overhead (cohort vs bare CAF, same run), then 1,000
# parallel model calls over HTTP to a real `cohort mock-llm` at 50 ms latency,
# next to curl doing the same 1,000 requests in parallel (baseline, same server),
# then model-pool throughput to three 0 ms mock-llm servers (1 vs 3 endpoints),
# next to wrk against the first of them (baseline, same server, same concurrency),
# then 10,000 calls in flight at once to a mock-llm at 200 ms (wall time, peak memory);
# the tool loop on the sim model and over HTTP, each next to the same work without it.
set -euo pipefail
build=${1:-build}
bench="$build/bench/cohort_bench"

echo "== fan-out/fan-in of N no-op tool agents (us_per_branch), bare CAF baseline =="
"$bench" --benchmark_filter='FanOutNoop|RawCafFanOut' --benchmark_min_time=1

echo
echo "== patterns: random DAGs of no-op tools (us_per_node, target <= 10), race and vote per branch next to a fan-out (baseline), three chained fan-outs next to one (us_per_branch should match), business-plan DAG efficiency (target >= 0.95) =="
"$bench" --benchmark_filter='DagNoop|FanOutSim|RaceSim|VoteSim|ChainedFanOuts|BusinessPlanDag' --benchmark_min_time=1

echo
echo "== limits: peak memory of a fan-out 100 at a time (/0 its own max_concurrency, /1 the run-wide one), 10,000 vs 100,000 branches (each in its own process); retry overhead =="
for args in 10000/0 100000/0 10000/1 100000/1; do "$bench" --benchmark_filter="BoundedFanOut/$args/"; done
"$bench" --benchmark_filter='RetryPolicy|TimedOutBranches'

# Coordination (barrier, bus) next to bare CAF doing the same, in the same run.
echo
echo "== coordination: barrier round trip for 10,000 parties (us_per_generation), bus messages between 1,000 agents (msgs_per_s), bare CAF baselines =="
"$bench" --benchmark_filter='BarrierRoundTrip|RawCafBarrier|BusMessages|RawCafDirect|RawCafRelay' --benchmark_min_time=1

echo
echo "== simulation: 10,000 sim agents x 10 rounds (target under 2 s, under 2 GiB), /0 text actions, /1 JSON actions sending to 2 neighbours; baseline: the same 100,000 sim calls as one flat fan-out =="
"$bench" --benchmark_filter='Simulation/|FlatFanOutSim'

echo
echo "== tool loop: agents making 3 turns with 2 parallel echo calls in each of the first two, on the sim model (overhead_us_per_turn: beyond the same model and tool calls made by plain agents, same iteration; aim <= 20) =="
"$bench" --benchmark_filter='ToolLoopSim/'

# Every mock-llm started here is ended by its pid on exit, and every temporary file removed.
mocks=()
temp_files=()
cleanup() {
  kill "${mocks[@]}" 2>/dev/null || true
  wait "${mocks[@]}" 2>/dev/null || true
  rm -f "${temp_files[@]}"
}
trap cleanup EXIT

# Starts `cohort mock-llm ARGS` on a free port and sets mock_port to it.
start_mock() {
  local log
  log=$(mktemp)
  temp_files+=("$log")
  "$build/cohort" mock-llm --port 0 "$@" >"$log" 2>&1 &
  mocks+=($!)
  for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.05; done
  mock_port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$mock_port" ] || { echo "mock-llm did not start: $(cat "$log")"; exit 1; }
}

start_mock --latency-ms 50 --threads 2
port=$mock_port

echo
echo "== 1,000 parallel model calls through HTTP at 50 ms latency (mock-llm on port $port) =="
# Cold first: repeated cold runs leave thousands of sockets in TIME_WAIT behind them.
COHORT_MOCK_PORT=$port "$bench" --benchmark_filter='HttpCallsCold/'
COHORT_MOCK_PORT=$port "$bench" --benchmark_filter='^HttpCalls/'
echo "-- the same through a model pool of one endpoint (the hop an endpoint list adds) --"
COHORT_MOCK_PORT=$port "$bench" --benchmark_filter='PoolHttpCalls/'

echo
echo "== tool loop over HTTP: 1,000 agents x 3 turns with 2 parallel tool calls, the calls scripted by a mock-llm at 50 ms; baseline: 1,000 plain calls to it (same iteration); vs_three_plain aim <= 1.3 (vs_latency_plus_plain: the issue's words read literally) =="
rules=$(mktemp --suffix=.json)
temp_files+=("$rules")
echo '[{"match": "^work", "tool_turns": [[{"name": "echo", "arguments": {"q": "a"}}, {"name": "echo", "arguments": {"q": "b"}}], [{"name": "echo", "arguments": {"q": "a"}}, {"name": "echo", "arguments": {"q": "b"}}]], "reply": "done: {{tool_results}}"}]' >"$rules"
start_mock --latency-ms 50 --threads 2 --rules "$rules"
COHORT_TOOLS_MOCK_PORT=$mock_port "$bench" --benchmark_filter='ToolLoopHttp/'

echo
echo "== baseline: curl --parallel, the same 1,000 requests to the same server =="
cfg=$(mktemp)
for i in $(seq 1000); do
  printf 'url = "http://127.0.0.1:%s/v1/chat/completions"\noutput = "/dev/null"\n' "$port"
done >"$cfg"
body='{"model":"mock","messages":[{"role":"user","content":"call"}]}'
for run in 1 2 3; do
  start=$(date +%s%N)
  curl -s --parallel --parallel-immediate --parallel-max 1000 -H 'Content-Type: application/json' \
       -d "$body" -K "$cfg"
  end=$(date +%s%N)
  echo "curl run $run: $(( (end - start) / 1000000 )) ms"
done
rm -f "$cfg"

# Three servers answering at once, one I/O thread each.
pool_ports=()
for _ in 1 2 3; do
  start_mock --latency-ms 0 --threads 1
  pool_ports+=("$mock_port")
done
ports_csv=$(IFS=,; echo "${pool_ports[*]}")

echo
echo "== model pool: 2,000 calls, 64 in flight, to mock-llm at 0 ms (ports $ports_csv): 3 endpoints, and 1 without a pool =="
COHORT_POOL_PORTS=$ports_csv "$bench" --benchmark_filter='PoolThroughput/3|PoolThroughputDirect'

echo
if command -v wrk >/dev/null; then
  # The machine is noisy: each round measures cohort between two wrk runs (the one
  # after a round is the one before the next), and the share is taken against their
  # mean, so a drift of the machine's speed during a round counts on both sides.
  echo "== requests through the pool of 1 endpoint next to wrk (64 in flight / 64 connections, the same POST to port ${pool_ports[0]}), 5 rounds, each between two wrk runs: share of their mean and its median (target >= 0.80); PoolRequests is the pool alone, PoolThroughput/1 the same calls made by a workflow's agents =="
  lua=$(mktemp --suffix=.lua)
  temp_files+=("$lua")
  cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"mock","messages":[{"role":"user","content":"call"}]}'
LUA
  # requests_per_s of a benchmark line, in requests a second.
  rate() { sed -n 's/.*requests_per_s=\([0-9.]*\)\(k\?\)\/s.*/\1 \2/p' | awk '{print $2 == "k" ? $1 * 1000 : $1}'; }
  share() { awk -v c="$1" -v a="$2" -v b="$3" 'BEGIN{w = (a + b) / 2; printf "%.2f", (w > 0 ? c / w : 0)}'; }
  run_wrk() { wrk -t2 -c64 -d3s -s "$lua" "http://127.0.0.1:${pool_ports[0]}/v1/chat/completions" | awk '/Requests\/sec/{print $2}'; }
  pool_shares=()
  agent_shares=()
  wrk_before=$(run_wrk)
  for round in 1 2 3 4 5; do
    lines=$(COHORT_POOL_PORTS=$ports_csv "$bench" --benchmark_filter='PoolRequests|PoolThroughput/1' 2>/dev/null | grep -E '^(PoolRequests|PoolThroughput/1)')
    echo "$lines"
    pool_rps=$(echo "$lines" | grep '^PoolRequests' | rate)
    agent_rps=$(echo "$lines" | grep '^PoolThroughput/1' | rate)
    wrk_after=$(run_wrk)
    pool_shares+=("$(share "$pool_rps" "$wrk_before" "$wrk_after")")
    agent_shares+=("$(share "$agent_rps" "$wrk_before" "$wrk_after")")
    echo "round $round: wrk $wrk_before then $wrk_after req/s; pool alone $pool_rps req/s, share ${pool_shares[-1]}; through agents $agent_rps req/s, share ${agent_shares[-1]}"
    wrk_before=$wrk_after
  done
  median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
  echo "median share of wrk: pool alone $(median "${pool_shares[@]}"), through agents $(median "${agent_shares[@]}")"
else
  echo "(wrk not installed: no baseline; scripts/install-deps.sh installs it)"
  COHORT_POOL_PORTS=$ports_csv "$bench" --benchmark_filter='PoolRequests|PoolThroughput/1'
fi

# 10,000 calls at once: the mock-llm at 200 ms holds as many connections as cohort opens.
start_mock --latency-ms 200 --threads 2
slow_port=$mock_port
echo
echo "== 10,000 calls in flight at once through a pool, mock-llm at 200 ms (port $slow_port, open-file limit $(ulimit -Hn)): cold_ms opens the connections, then warm runs; ideal 200 ms =="
COHORT_SLOW_MOCK_PORT=$slow_port "$bench" --benchmark_filter='InFlight/'

# The node (cohort serve): latency, runs per second, SSE fan-out, memory of a big store.
"$(dirname "$0")/node.sh" "$build"
