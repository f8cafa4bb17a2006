#!/usr/bin/env bash
# Runs the benchmarks against an existing build (builds nothing; `make bench` builds first)
# and keeps the JSON under bench/results/.
#
#   bench/run.sh [BUILD_DIR]          default: build
#   BENCH_ARGS="--duration-seconds 5" bench/run.sh build   extra options for bench_delivery
#   BENCH_NOTES="..." bench/run.sh    free text stored in the JSON ("notes")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac

bin=""
for candidate in "$build/bench/bench_delivery" "$build/bench_delivery"; do
  if [[ -x "$candidate" ]]; then bin="$candidate"; break; fi
done
if [[ -z "$bin" ]]; then
  echo "bench/run.sh: no bench_delivery under $build (build it first: make bench, or cmake --build $build --target bench_delivery)" >&2
  exit 1
fi

mkdir -p "$here/results"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
out="$here/results/delivery-$stamp.json"
notes="${BENCH_NOTES:-$(nproc) CPUs shared with whatever else runs on this machine; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)}"

# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
"$bin" --out "$out" --notes "$notes" ${BENCH_ARGS:-}
echo "bench/run.sh: results in $out"
