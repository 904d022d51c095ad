#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz, one after another, each for FUZZ_SECONDS
# (default 60) from its seed corpus; fails when any of them finds a crash, a hang
# (-timeout), a leak, UB or runs out of memory (-rss_limit_mb).
#
#   tests/fuzz/run.sh BUILD_DIR [TARGET...]     # default: every target
#
# The corpus each run grows is kept in BUILD_DIR/fuzz/corpus/TARGET (a later run starts
# from it); the seeds are read from tests/fuzz/corpus/TARGET (and, for the scenario
# loader, examples/*.json). A finding is written to BUILD_DIR/fuzz/artifacts/TARGET/;
# replay one with `BUILD_DIR/tests/fuzz/fuzz_TARGET FILE`.
set -euo pipefail

build=$(cd "${1:?usage: run.sh BUILD_DIR [TARGET...]}" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
work=$build/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scenario_loader template chat_answer chat_stream mock_llm)

# Inputs longer than this teach little more and slow every run down.
max_len_of() {
  case $1 in
    scenario_loader) echo 8192 ;;  # the largest example is about 5 kB
    template) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

dict_of() {
  case $1 in
    chat_answer | chat_stream) echo "$here/dicts/chat.dict" ;;
    scenario_loader) echo "$work/scenario.dict" ;;
    *) echo "$here/dicts/$1.dict" ;;
  esac
}

# The scenario loader's dictionary: every name the schema knows (keys, types, enums).
mkdir -p "$work"
grep -o '"[A-Za-z_$][A-Za-z0-9_]*"' "$root/config/scenario.schema.json" | sort -u >"$work/scenario.dict"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$root/tests/sanitizers/ubsan.supp}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}

failed=()
for t in "${targets[@]}"; do
  exe=$build/tests/fuzz/fuzz_$t
  [ -x "$exe" ] || { echo "fuzz: $exe is not built (COHORT_FUZZ=ON)" >&2; exit 2; }
  corpus=$work/corpus/$t
  artifacts=$work/artifacts/$t
  seeds=("$here/corpus/$t")
  mkdir -p "$corpus" "$artifacts"
  if [ "$t" = scenario_loader ]; then
    mkdir -p "$work/seeds/$t"
    cp "$root"/examples/*.json "$work/seeds/$t/"
    seeds+=("$work/seeds/$t")
  fi
  log=$work/$t.log
  start=$(date +%s)
  rc=0
  "$exe" -max_total_time="$seconds" -max_len="$(max_len_of "$t")" -timeout=10 -rss_limit_mb=2048 \
    -dict="$(dict_of "$t")" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
  if [ $rc -eq 0 ]; then
    echo "fuzz $t: ok in ${took}s, ${execs:-?} runs, ${last:-no stats}"
  else
    failed+=("$t")
    echo "fuzz $t: FAILED (exit $rc) after ${took}s, ${execs:-?} runs, ${last:-no stats}; log $log" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written|deadly signal|==[0-9]+== *(ERROR|WARNING)' "$log" | head -20 >&2 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in $work/artifacts/)" >&2
  exit 1
fi
