#!/bin/sh
# Where a slow token waited (docs/benchmarks/chatd.md, "Issue 18 follow-up: the start tail"):
# one run of the per-token latency benchmark (50 chats × 100 tokens/s unless BENCH_CHATS /
# BENCH_TOKEN_MS say otherwise) with the loopback captured by tcpdump, then each token's latency
# split into the fake provider's part (its timestamp → the SSE packet carrying it), the
# server's (that packet → the WebSocket packet carrying the token) and the client's (that
# packet → the client's read). On loopback a packet is captured as it is transmitted, so a
# token held in a socket's send buffer counts to the process that wrote it.
# Needs root (tcpdump), PostgreSQL at DATABASE_URL and a release build of the test
# (`cargo test --release -p agentry --test stream_latency --no-run`).
set -eu
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d)}
bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/stream_latency-* | grep -v '\.d$' | head -1)
uptime
tcpdump -i lo -s 0 -B 131072 -w "$out/lo.pcap" 'tcp and not port 5432' 2>"$out/tcpdump.log" &
tcpdump=$!
sleep 1
BENCH_CHATS=${BENCH_CHATS:-50} BENCH_TOKEN_MS=${BENCH_TOKEN_MS:-10} BENCH_TIMELINE=1 BENCH_DUMP="$out/tokens" \
  "$bin" bench_stream_latency --ignored --nocapture 2>&1 | grep -E "^chats=|panicked|timeline"
sleep 0.5
kill "$tcpdump"
wait "$tcpdump" || true
tail -1 "$out/tcpdump.log"
uptime
python3 scripts/bench/stream_capture.py "$out/lo.pcap" "$out/tokens" "${SHOW:-20}"
