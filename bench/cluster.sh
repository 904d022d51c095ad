#!/usr/bin/env bash
# make bench, the cluster's part (node.sh calls it; `bench/cluster.sh build` runs it
# alone): a real head (`cohort serve --cluster-port`) and `cohort worker` processes on
# 127.0.0.1, each figure next to the same work on one node in the same run.
#  1. remote dispatch overhead: N branches of a 0 ms sim agent placed on one worker, next
#     to the same run kept on the head ("placement": "local"); reported per branch from
#     the runs' own wall times (aim <= 50 us).
#  2. throughput: 10,000 sim agents at 50 ms over 1, 2 and 3 workers of S slots each,
#     next to one node running them S at a time; aim: near-linear in slots.
set -euo pipefail
build=${1:-build}
branches=${COHORT_BENCH_CLUSTER_BRANCHES:-20000}
slots=${COHORT_BENCH_CLUSTER_SLOTS:-100}

pids=()
temp=$(mktemp -d)
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$temp"
}
trap cleanup EXIT

# Starts the head; sets head_port and cluster_port.
start_head() {
  local log="$temp/head.log"
  "$build/cohort" --log-level warn serve --port 0 --data "$temp/store" --cluster-port 0 >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do grep -q "cluster port" "$log" && break; sleep 0.05; done
  head_port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  cluster_port=$(sed -n 's/.*cluster port 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$cluster_port" ] || { echo "the head did not start: $(cat "$log")"; exit 1; }
}

# Starts a worker of `slots` slots; sets worker_pid once it has joined.
start_worker() {
  local log="$temp/worker-$RANDOM.log"
  "$build/cohort" --log-level warn worker --join "127.0.0.1:$cluster_port" --slots "$1" --name "$2" >"$log" 2>&1 &
  worker_pid=$!
  pids+=("$worker_pid")
  for _ in $(seq 600); do grep -q joined "$log" && break; sleep 0.05; done
  grep -q joined "$log" || { echo "worker did not join: $(cat "$log")"; exit 1; }
}

# scenario N LATENCY_MS PLACEMENT MAX_CONCURRENCY -> the scenario's JSON
scenario() {
  python3 - "$@" <<'PY'
import json, sys
n, latency, placement, limit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fan = {"type": "fan_out", "over": "input.items", "do": {"agent": "a"}}
if limit > 0: fan["max_concurrency"] = limit
print(json.dumps({"name": "cluster-bench", "timeout_ms": 600000,
                  "models": {"m": {"provider": "sim", "seed": 3, "latency_ms": latency}},
                  "agents": {"a": {"model": "m", "prompt": "item {{item}}", "placement": placement}},
                  "workflow": fan, "input": {"items": list(range(n))}}))
PY
}

# Submits a scenario file and waits; prints the run's own wall time in ms.
run_wall_ms() {
  local id
  id=$(curl -s -X POST "localhost:$head_port/v1/runs" -H 'Content-Type: application/json' \
         --data-binary "{\"scenario\": $(cat "$1")}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 6000); do
    doc=$(curl -s "localhost:$head_port/v1/runs/$id")
    echo "$doc" | grep -q '"status":"running"' || break
    sleep 0.1
  done
  echo "$doc" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"]=="succeeded", d.get("error"); print(d["summary"]["wall_ms"])'
}

start_head
start_worker 100000 dispatch
echo
echo "== cluster: remote dispatch overhead, $branches branches of a 0 ms sim agent: on one worker over loopback vs kept on the head (3 rounds) =="
scenario "$branches" 0 any 0 >"$temp/remote.json"
scenario "$branches" 0 local 0 >"$temp/local.json"
for round in 1 2 3; do
  local_ms=$(run_wall_ms "$temp/local.json")
  remote_ms=$(run_wall_ms "$temp/remote.json")
  awk -v l="$local_ms" -v r="$remote_ms" -v n="$branches" -v k="$round" \
    'BEGIN{printf "round %d: head %d ms, worker %d ms: overhead %.1f us per branch (aim <= 50)\n", k, l, r, (r - l) * 1000 / n}'
done
kill "$worker_pid"

echo
echo "== cluster: 10,000 sim agents at 50 ms, $slots slots per worker; baseline: one node running them $slots at a time (ideal $((10000 * 50 / slots)) ms) =="
scenario 10000 50 local "$slots" >"$temp/one-node.json"
base_ms=$(run_wall_ms "$temp/one-node.json")
echo "one node, $slots at a time: $base_ms ms"
scenario 10000 50 any 0 >"$temp/spread.json"
for workers in 1 2 3; do
  start_worker "$slots" "w$workers"
  ms=$(run_wall_ms "$temp/spread.json")
  awk -v w="$workers" -v ms="$ms" -v b="$base_ms" \
    'BEGIN{printf "%d worker(s): %d ms, %.2fx the one-node baseline (ideal %d.00x)\n", w, ms, b / ms, w}'
done
