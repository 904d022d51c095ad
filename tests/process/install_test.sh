#!/usr/bin/env bash
# cohort as an installed library: `cmake --install` into a temporary prefix, then
# examples/embed built as an outside project twice, with find_package(cohort) and with
# pkg-config, and each program run. Usage: install_test.sh BUILD_DIR SOURCE_DIR CXX
set -euo pipefail
build=$1 source=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
for f in include/cohort/runtime.hpp include/cohort/coordination.hpp lib/libcohort_runtime.a \
         lib/cmake/cohort/cohortConfig.cmake lib/pkgconfig/cohort.pc; do
  [[ -f "$work/prefix/$f" ]] || { echo "not installed: $f"; exit 1; }
done
# Nothing private leaks into the installed headers.
if grep -rn '#include "' "$work/prefix/include/cohort" | grep -v '"cohort/'; then
  echo "installed public headers include private ones"; exit 1
fi

echo "== find_package(cohort)"
cmake -S "$source/examples/embed" -B "$work/cmake-build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/cmake-build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
# Each program exits 0 only when its run succeeded.
"$work/cmake-build/embed_example" > "$work/embed.out" 2> /dev/null
grep -q '"succeeded"' "$work/embed.out" || { cat "$work/embed.out"; exit 1; }
"$work/cmake-build/embed_rounds" > /dev/null
"$work/cmake-build/embed_tools" > /dev/null

echo "== pkg-config cohort"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
"$cxx" -O1 "$source/examples/embed/main.cpp" -o "$work/embed_pc" $(pkg-config --cflags --libs cohort)
"$work/embed_pc" > "$work/embed_pc.out" 2> /dev/null
grep -q '"succeeded"' "$work/embed_pc.out" || { cat "$work/embed_pc.out"; exit 1; }
echo "installed cohort builds and runs both ways"
