#!/bin/sh
# The chat daemon benchmark (docs/benchmarks/chatd.md): 500 concurrent chats on one in-process
# server, the fake provider streaming 200 timestamped tokens each, one WebSocket client per
# chat. Needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# PROFILE=release for optimized numbers (default: the dev profile the tests use).
set -eu
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || true
if [ "${PROFILE:-dev}" = release ]; then set -- --release; else set --; fi
cargo test "$@" -p agentry --test chatd bench_500_concurrent_streaming_chats -- --ignored --nocapture 2>&1 | grep -E "^chats=|test result"
