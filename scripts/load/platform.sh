#!/usr/bin/env bash
# Load test of two authenticated platform reads, and the raw SQL they run, on this machine.
#
#   scripts/load/platform.sh            # 20 s per endpoint, 64 connections
#   DURATION=60 scripts/load/platform.sh
#
# Needs: wrk (apt-get install wrk), pgbench (PostgreSQL's contrib, shipped with the server
# package), PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Builds the release binary,
# starts it against a scratch database `agentry_load`, creates the first user, then runs wrk
# against GET /api/v2/users/me and GET /api/v2/organizations, and pgbench with the same
# statements (the authentication query, and authentication + the organizations query) at
# the same concurrency, so the server's overhead over its own SQL can be read off.
# Results are summarised in docs/benchmarks/platform-load.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
PGURL_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
DB=agentry_load
PORT="${PORT:-3999}"

cargo build --release -p agentry --quiet
psql "$PGURL_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

./target/release/agentry server --http-address "127.0.0.1:$PORT" \
  --postgres-url "postgres://postgres@127.0.0.1:5432/$DB" 2>/tmp/agentry-load.log &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

curl -sf -X POST "http://127.0.0.1:$PORT/api/v2/users/first" -H 'Content-Type: application/json' \
  -d '{"email":"load@example.com","username":"load","password":"load-test-password"}' >/dev/null
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v2/users/login" -H 'Content-Type: application/json' \
  -d '{"email":"load@example.com","password":"load-test-password"}' | sed -E 's/.*"session_token":"([^"]+)".*/\1/')
KEY_ID=${TOKEN%%-*}
USER_ID=$(curl -sf "http://127.0.0.1:$PORT/api/v2/users/me" -H "Coder-Session-Token: $TOKEN" | sed -E 's/.*"id":"([^"]+)".*/\1/')

echo "== wrk: ${CONNECTIONS} connections, ${DURATION}s each"
for path in /api/v2/users/me /api/v2/organizations; do
  echo "-- GET $path"
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Coder-Session-Token: $TOKEN" "http://127.0.0.1:$PORT$path" \
    | grep -E "Requests/sec|Latency|50%|99%|Non-2xx" || true
done

# The statements behind those requests, as pgbench scripts with the literal values of this run:
# the authentication query (agentry-store users::authenticate), which runs only when a session
# is not in the server's session cache, and the organizations list (orgs::organizations), which
# runs on every GET /organizations.
AUTH_SQL="SELECT u.id, u.email, u.username, u.name, u.status, u.site_roles, u.created_at,
  ARRAY(SELECT m.organization_id FROM organization_members m WHERE m.user_id = u.id ORDER BY m.created_at, m.organization_id) AS organization_ids,
  k.hashed_secret, k.expires_at,
  COALESCE((SELECT jsonb_agg(jsonb_build_object('org', m.organization_id, 'roles', m.roles)) FROM organization_members m WHERE m.user_id = u.id), '[]'::jsonb)
  FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = '$KEY_ID';"
ORGS_SQL="SELECT * FROM organizations WHERE TRUE ORDER BY is_default DESC, lower(name);"
echo "$AUTH_SQL" | tr '\n' ' ' > /tmp/agentry-auth.sql; echo >> /tmp/agentry-auth.sql
echo "$ORGS_SQL" > /tmp/agentry-orgs.sql
# The server's pool would take connections pgbench needs; its work is done.
kill $SERVER; wait $SERVER 2>/dev/null || true
echo "== pgbench: the same SQL, ${CONNECTIONS} clients, ${DURATION}s each (prepared statements)"
for f in /tmp/agentry-auth.sql /tmp/agentry-orgs.sql; do
  echo "-- $(basename "$f")"
  pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$DURATION" -f "$f" "postgres://postgres@127.0.0.1:5432/$DB" \
    | grep -E "latency average|tps" || true
done
echo "user id: $USER_ID"
