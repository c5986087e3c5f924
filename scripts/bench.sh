#!/usr/bin/env bash
# Conversion benchmarks (Loki here, Elasticsearch in bench-elastic.sh): each hot path from a source's answer to Grafana
# frames, beside a baseline that only JSON-decodes the same bytes with the
# standard library. Prints the median ns/op, allocations and the ratio
# (target: conversion <= 1.5 x decode-only).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== Loki: streams and matrix answers to frames; the versions query type for 300,000 events in 24 h (its three answers over HTTP to the frame)" >&2
go test -run '^$' -bench '^BenchmarkLoki' -benchmem -count "$count" ./pkg/plugin/ | tee "$out" | grep -E '^(Benchmark|ok|FAIL)' >&2 || true
# pairs: conversion benchmark = baseline benchmark
pairs="LokiStreamsToLogFrame=LokiStreamsDecodeOnly LokiMatrixToTimeseriesFrames=LokiMatrixDecodeOnly LokiVersions300k=LokiVersionsDecodeOnly300k"
awk -v pairs="$pairs" '
  /^Benchmark/ {
    name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
    n[name]++; ns[name, n[name]]=$3
    for (i=4; i<=NF; i++) if ($(i+1)=="allocs/op") allocs[name]=$i
  }
  function median(name,   i, j, t, k, a) {
    k=n[name]; for (i=1; i<=k; i++) a[i]=ns[name, i]
    for (i=1; i<=k; i++) for (j=i+1; j<=k; j++) if (a[j]+0 < a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
    return a[int((k+1)/2)]
  }
  END {
    printf "\n%-28s %14s %12s   %-22s %14s %12s  %6s\n", "conversion", "median ns/op", "allocs/op", "decode-only baseline", "median ns/op", "allocs/op", "ratio"
    m=split(pairs, p, " ")
    for (i=1; i<=m; i++) {
      split(p[i], kv, "="); c=kv[1]; b=kv[2]
      if (!(c in n) || !(b in n)) continue
      mc=median(c); mb=median(b)
      printf "%-28s %14d %12s   %-22s %14d %12s  %5.2fx\n", c, mc, allocs[c], b, mb, allocs[b], mc/mb
    }
  }' "$out"

echo
echo "== Elasticsearch: hits and aggregations to frames"
BENCH_NO_FAIL=1 ./scripts/bench-elastic.sh
