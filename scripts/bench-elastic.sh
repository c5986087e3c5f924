#!/usr/bin/env bash
# Elasticsearch read path: cost of turning an answer into frames against the
# cost of only decoding the same bytes into map/any (json.Unmarshal), for a
# 5,000-hit feedback list and a 500-step × 10-term histogram.
# Prints the median ns/op and allocations of each and their ratio; the
# target is ≤ 1.5×. Exits 1 when a ratio is over it (BENCH_NO_FAIL=1 to
# only report). COUNT sets the repetitions (default 6): the machine's noise
# moves single runs by ±15 %, the median of the interleaved runs much less.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-6}"
target="${TARGET:-1.5}"
out="$(go test ./pkg/elastic/ -run '^$' -bench '^BenchmarkElastic' -benchmem -count "$count" 2>/dev/null | grep '^BenchmarkElastic')"
echo "$out"
echo
echo "$out" | awk -v target="$target" '
  {
    name = $1; sub(/-[0-9]+$/, "", name)
    split(name, p, "/"); group = p[1]; sub(/^BenchmarkElastic/, "", group); kind = p[2]
    ns[group, kind] = ns[group, kind] " " $3
    for (i = 4; i <= NF; i++) if ($(i+1) == "allocs/op") allocs[group, kind] = $i
    groups[group] = 1
  }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    over = 0
    for (g in groups) {
      f = median(ns[g, "frames"]); d = median(ns[g, "decode_any"])
      r = f / d
      label = (g == "Hits") ? "5,000 hits -> feedback frame" : "500 steps x 10 terms -> timeseries frames"
      verdict = (r <= target) ? "ok" : "OVER"
      printf "elastic %-42s frames %8.2f ms (%s allocs)  decode-only %8.2f ms (%s allocs)  ratio %.2fx (target <= %.1fx) %s\n", \
        label, f / 1e6, allocs[g, "frames"], d / 1e6, allocs[g, "decode_any"], r, target, verdict
      if (r > target) over = 1
    }
    exit over
  }' || { [ "${BENCH_NO_FAIL:-0}" = 1 ] || exit 1; }
