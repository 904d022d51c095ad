#!/usr/bin/env bash
# make bench, the router's part (node.sh calls it; `bench/router.sh build` runs it alone):
# wrk sends the same chat completion to a `cohort mock-llm` at 0 ms directly (the
# baseline) and through a node's OpenAI-compatible router in front of it, in alternating
# rounds; reported: the router's requests per second as a share of wrk's direct ones
# (the mean of the direct runs before and after it; aim >= 0.80) and the node's CPU per
# routed call (aim <= 50 us).
set -euo pipefail
build=${1:-build}
command -v wrk >/dev/null || { echo "(wrk not installed: no router figures; scripts/install-deps.sh installs it)"; exit 0; }

pids=()
temp=$(mktemp -d)
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$temp"
}
trap cleanup EXIT

# Starts a cohort command that prints "... listening on http://127.0.0.1:PORT"; sets
# started_pid and started_port.
start() {
  local log="$temp/log-$RANDOM"
  "$build/cohort" --log-level warn "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 600); do grep -q listening "$log" && break; sleep 0.05; done
  started_port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$started_port" ] || { echo "did not start: $* $(cat "$log")"; exit 1; }
}

start mock-llm --port 0 --latency-ms 0 --threads 1
mock_port=$started_port
echo "{\"models\": {\"mock\": {\"provider\": \"openai\", \"base_url\": \"http://127.0.0.1:$mock_port/v1\", \"max_in_flight\": 256}}}" >"$temp/models.json"

cat >"$temp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Workflow-Id"] = "bench"
wrk.body = '{"model":"mock","messages":[{"role":"user","content":"call"}]}'
LUA
# "RPS REQUESTS" of a 3 s wrk run, 64 connections, on 2 threads.
run_wrk() { wrk -t2 -c64 -d3s -s "$temp/post.lua" "http://127.0.0.1:$1/v1/chat/completions" |
              awk '/requests in/{n=$1} /Requests\/sec/{print $2, n}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

hz=$(getconf CLK_TCK)
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }

# Five rounds against a node started with the environment given ("" for none).
measure() {
env $1 "$build/cohort" --log-level warn serve --port 0 --data "$temp/store-$RANDOM" --models "$temp/models.json" \
  >"$temp/node.log" 2>&1 &
node_pid=$!
pids+=("$node_pid")
for _ in $(seq 600); do grep -q listening "$temp/node.log" && break; sleep 0.05; done
node_port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$temp/node.log" | head -1)
[ -n "$node_port" ] || { echo "did not start: $(cat "$temp/node.log")"; exit 1; }
run_wrk "$node_port" >/dev/null  # warm: connections to the mock opened
read -r direct_before _ < <(run_wrk "$mock_port")
shares=()
cpus=()
for round in 1 2 3 4 5; do
  before=$(cpu_ticks "$node_pid")
  read -r routed_rps routed_n < <(run_wrk "$node_port")
  after=$(cpu_ticks "$node_pid")
  read -r direct_after _ < <(run_wrk "$mock_port")
  share=$(awk -v c="$routed_rps" -v a="$direct_before" -v b="$direct_after" 'BEGIN{printf "%.2f", c / ((a + b) / 2)}')
  cpu=$(awk -v t=$((after - before)) -v n="$routed_n" -v hz="$hz" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')
  shares+=("$share")
  cpus+=("$cpu")
  echo "round $round: direct $direct_before then $direct_after req/s; routed $routed_rps req/s ($routed_n calls), share $share; node CPU $cpu us a call"
  direct_before=$direct_after
done
echo "median: share of wrk $(median "${shares[@]}"), node CPU $(median "${cpus[@]}") us per routed call"
curl -s "http://127.0.0.1:$node_port/metrics" | grep -E '^cohort_router_requests_total' || true
kill "$node_pid"
wait "$node_pid" 2>/dev/null || true
}

echo
echo "== router: wrk (64 connections) through the node's /v1/chat/completions to a mock-llm at 0 ms, next to wrk to the mock directly; 5 rounds, each between two direct runs: share of their mean (aim >= 0.80), the node's CPU per routed call (aim <= 50 us) =="
measure ""
echo
echo "== router: the same with the node's actor scheduler on one thread (COHORT_SCHEDULER_THREADS=1): fewer hand-offs between threads on two shared cores =="
measure COHORT_SCHEDULER_THREADS=1
