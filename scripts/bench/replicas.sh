#!/bin/sh
# Fan-out across replicas (docs/benchmarks/replicas.md, issue 16): 1, 2 and 3 server processes
# on one PostgreSQL, clients on a replica other than the one running the chats, under both
# fan-out transports (PostgreSQL NOTIFY and NATS). Needs PostgreSQL at DATABASE_URL and
# nats-server (Debian package). Knobs (see bench_replicas in crates/agentry/tests/stream_latency.rs):
# BENCH_CHATS (100), BENCH_TOKENS (100), BENCH_TOKEN_MS (100,20,10), BENCH_REPLICAS (1,2,3),
# BENCH_TRANSPORTS (postgres,nats).
set -eu
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || true
nproc
uptime
cargo test --release -p agentry --test stream_latency bench_replicas -- --ignored --nocapture 2>&1 \
  | grep -E "^transport=|panicked"
uptime
