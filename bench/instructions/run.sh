#!/usr/bin/env bash
# bench/instructions/run.sh [TREE] [CALLS]: instructions (valgrind callgrind) the relay of TREE's dist/ spends
# per unary call from h2load (8 connections x 16 streams) to bench/backends/fixed.mjs, after 2,000 warm-up
# calls. Instruction counts do not depend on what else the machine runs, so two trees (a base and a change)
# compare within a percent or two on a shared host; interleave a few runs of each and take medians.
# Build TREE first: (cd TREE && npx tsc -p tsconfig.build.json). RETRY=1 adds a retrying TrafficPolicy.
# Needs valgrind and h2load (Debian: valgrind, nghttp2-client).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tree="$(cd "${1:-$root}" && pwd)"
n="${2:-30000}"
work="$(mktemp -d)"
trap 'kill "${gpid:-}" "${bpid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
node "$root/bench/backends/fixed.mjs" > "$work/backend.out" 2>&1 &
bpid=$!
for _ in $(seq 100); do grep -q LISTENING "$work/backend.out" && break; sleep 0.1; done
bport=$(grep -o 'LISTENING [0-9]*' "$work/backend.out" | awk '{print $2}')
valgrind --tool=callgrind --callgrind-out-file="$work/cg" node "$here/serve.mjs" "$tree" "$bport" \
  > "$work/gw.out" 2> "$work/gw.err" &
gpid=$!
for _ in $(seq 600); do grep -q LISTENING "$work/gw.out" && break; sleep 0.2; done
gport=$(grep -o 'LISTENING [0-9]*' "$work/gw.out" | awk '{print $2}')
printf '\x00\x00\x00\x00\x07\x0a\x05world' > "$work/body.bin"
load() {
  h2load -n "$1" -c 8 -m 16 -d "$work/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$gport/helloworld.Greeter/SayHello"
}
load 2000 > /dev/null 2>&1
callgrind_control -z "$gpid" > /dev/null 2>&1
load "$n" | grep -E "succeeded" | head -1
callgrind_control -d "$gpid" > /dev/null 2>&1
sleep 1
ir=$(grep -hE "^summary:|^totals:" "$work"/cg.* | head -1 | awk '{print $2}')
echo "$tree${RETRY:+ (RETRY=$RETRY)}: $((ir / n)) instructions per call ($ir over $n calls)"
