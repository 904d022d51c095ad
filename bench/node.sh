#!/usr/bin/env bash
# make bench, the node's part (run.sh calls it; `bench/node.sh build` runs it alone):
# a real `cohort serve` on 127.0.0.1 driven by cohort_node_bench, each figure next to a
# baseline measured in the same run; then the node's peak memory holding 100,000 ended
# runs in its store, next to the same node with an empty store.
set -euo pipefail
build=${1:-build}
bench="$build/bench/cohort_node_bench"
runs=${COHORT_BENCH_NODE_RUNS:-100000}

nodes=()
dirs=()
cleanup() {
  kill "${nodes[@]}" 2>/dev/null || true
  wait "${nodes[@]}" 2>/dev/null || true
  rm -rf "${dirs[@]}"
}
trap cleanup EXIT

# Starts `cohort serve --data DIR ARGS` on a free port; sets node_pid and node_port.
start_node() {
  local data=$1 log
  shift
  log=$(mktemp)
  dirs+=("$log")
  "$build/cohort" --log-level warn serve --port 0 --data "$data" "$@" >"$log" 2>&1 &
  node_pid=$!
  nodes+=("$node_pid")
  for _ in $(seq 600); do grep -q listening "$log" && break; sleep 0.05; done
  node_port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$node_port" ] || { echo "cohort serve did not start: $(cat "$log")"; exit 1; }
}

stop_node() {
  kill -TERM "$node_pid"
  wait "$node_pid" 2>/dev/null || true
}

peak_mib() { awk '/VmHWM/{printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

data=$(mktemp -d)
dirs+=("$data")
start_node "$data/store" --max-runs 128

echo
echo "== node: submit-to-result of a one-agent sim run (aim p50 <= 1 ms), next to a GET /healthz round trip and the same run embedded =="
"$bench" latency "$node_port" 2000

echo
echo "== node: $runs runs completed by 64 concurrent clients, sim model at 0 ms (aim >= 5,000/s), next to the same runs embedded with 64 in flight; each client submits and reads the event stream, then submits and waits in one request =="
for how in stream wait; do
  cpu_before=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
  "$bench" throughput "$node_port" "$runs" 64 "$how"
  cpu_after=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
  echo "the node's CPU per run ($how): $(awk -v t=$((cpu_after - cpu_before)) -v n="$runs" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.3f", t / hz * 1000 / n}') ms"
done

echo
echo "== node: events per second delivered to 100 SSE watchers of one 10,000-branch run (sim 0-1000 ms), next to 1 watcher of the same run =="
"$bench" watchers "$node_port" 100 10000

echo
echo "== node: a message's round trip between two external agents over the agent API (4 HTTP requests: send, long poll, send, long poll), next to four GET /healthz =="
"$bench" messages "$node_port" 2000
stop_node

echo
# The throughput runs both ways, the latency runs both ways and their warm-up, the two wide runs.
stored=$((2 * runs + 2 * 2000 + 200 + 2))
echo "== node: peak memory after a restart that loads the store of $stored ended runs, next to a node with an empty store =="
empty=$(mktemp -d)
dirs+=("$empty")
start_node "$empty/store"
curl -s "http://127.0.0.1:$node_port/v1/runs?limit=10" >/dev/null
empty_mib=$(peak_mib "$node_pid")
stop_node
start_node "$data/store"
curl -s "http://127.0.0.1:$node_port/v1/runs?limit=10" >/dev/null
full_mib=$(peak_mib "$node_pid")
stop_node
echo "empty store: $empty_mib MiB; $(du -sh "$data/store" | cut -f1) store: $full_mib MiB; $(awk -v a="$empty_mib" -v b="$full_mib" -v n="$stored" 'BEGIN{printf "%.0f bytes per stored run", (b - a) * 1048576 / n}')"

# The OpenAI-compatible router: share of wrk, CPU per call.
"$(dirname "$0")/router.sh" "$build"

# The cluster: a head and workers on loopback, next to the same work on one node.
"$(dirname "$0")/cluster.sh" "$build"
