#!/bin/sh
# Per-token latency and server CPU per token (docs/benchmarks/chatd.md, "Per-token latency"):
# the server binary in its own process, the fake provider and one WebSocket client per chat in
# the test process. Runs the two loads of issue 18 (500 chats × 10 tokens/s, 50 chats × 100
# tokens/s), each RUNS times (default 3). Needs PostgreSQL at DATABASE_URL.
set -eu
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || true
uptime
for i in $(seq "${RUNS:-3}"); do
  for load in "500 100" "50 10"; do
    set -- $load
    BENCH_CHATS=$1 BENCH_TOKEN_MS=$2 cargo test --release -p agentry --test stream_latency bench_stream_latency \
      -- --ignored --nocapture 2>&1 | grep -E "^chats=|panicked"
  done
done
uptime
