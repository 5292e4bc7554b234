#!/usr/bin/env bash
# What the bubblewrap sandbox adds to a workspace command: `echo ok` through the workspace agent,
# 200 calls sandboxed and 200 not, interleaved in one run. Needs root and bwrap.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --release -q -p agentry-agent --example sandbox_overhead -- "${CALLS:-200}"
