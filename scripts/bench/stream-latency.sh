#!/bin/sh
# Per-token latency and server CPU per token (docs/benchmarks/chatd.md, "Per-token latency"):
# the server binary in its own process, the fake provider and one WebSocket client per chat in
# the test process. Runs the two loads of issue 18 (500 chats × 10 tokens/s, 50 chats × 100
# tokens/s), each RUNS times (default 3). Needs PostgreSQL at DATABASE_URL.
#
# SERVERS="before=/path/to/agentry after=target/release/agentry" runs each load with each of
# those server binaries in turn (alternating, so every pair sees the same machine), each line
# labelled and with the load average at its start. Without it, the current build's server.
set -eu
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || true
cargo test --release -p agentry --test stream_latency --no-run 2>/dev/null
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$(ls -t "$TARGET"/release/deps/stream_latency-* | grep -v '\.d$' | head -1)
uptime
for i in $(seq "${RUNS:-3}"); do
  for load in "500 100" "50 10"; do
    set -- $load
    for server in ${SERVERS:-current=}; do
      label=${server%%=*}
      path=${server#*=}
      line=$(AGENTRY_BENCH_SERVER_BIN=${path:-$TARGET/release/agentry} BENCH_CHATS=$1 BENCH_TOKEN_MS=$2 "$BIN" \
        bench_stream_latency --ignored --nocapture 2>&1 | grep -E "^chats=|panicked")
      echo "$label load=$(cut -d' ' -f1 /proc/loadavg) $line"
    done
  done
done
uptime
