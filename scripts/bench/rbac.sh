#!/usr/bin/env bash
# Runs the authorization engine's criterion benchmarks and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p agentry-rbac --bench authorize -- --warm-up-time 1 --measurement-time "${SECONDS_PER_BENCH:-3}" >/dev/null
for f in target/criterion/*/*/new/estimates.json; do
  name=${f#target/criterion/}; name=${name%/new/estimates.json}
  python3 -c "import json; print('%-40s %10.1f ns' % ('$name', json.load(open('$f'))['median']['point_estimate']))"
done | sort
