#!/usr/bin/env bash
# Installs the Debian 12 packages cohort builds with, only when one is missing.
# Idempotent and quiet: a second run costs one dpkg query.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache make pkg-config
  libcaf-dev libboost1.81-dev libboost-url1.81-dev libssl-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libvalijson-dev
  libre2-dev  # regular expressions on outside text: linear time, bounded stack
  libsqlite3-dev  # cohort serve's run store
  prometheus-cpp-dev  # cohort serve's /metrics
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev
  curl procps
  openssl  # the TLS tests make their certificates with it
  ca-certificates  # the system CA store https endpoints are verified against
  wrk  # the benchmarks' baselines (bench/run.sh, bench/router.sh)
  python3  # examples/node: external agents written in Python (tested)
  iproute2  # tests/process/cluster_netns_test: a worker cut off in a network namespace
  clang-14 libclang-rt-14-dev  # make test-asan, test-tsan, fuzz: clang's sanitizers and libFuzzer
  llvm-14  # llvm-symbolizer: sanitizer reports with function names and lines
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "cohort: missing packages: ${missing[*]}" >&2
  echo "cohort: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "cohort: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
