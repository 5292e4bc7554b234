#!/usr/bin/env bash
# Load test of two authenticated platform reads, and the raw SQL they run, on this machine.
#
#   scripts/load/platform.sh            # 20 s per endpoint, 64 connections
#   DURATION=60 scripts/load/platform.sh
#   MEMBERS=99 scripts/load/platform.sh   # 99 more members in the default organization
#
# Needs: wrk (apt-get install wrk), pgbench (PostgreSQL's contrib, shipped with the server
# package), PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Builds the release binary,
# starts it against a scratch database `agentry_load`, creates the first user, then runs wrk
# against the cheap authenticated reads (GET /api/v2/users/me, /organizations,
# /organizations/default, /organizations/default/members) — once with the organization cache
# off (AGENTRY_BENCH_BEFORE=org-cache, the code before issue 18) and once as is — and pgbench
# with the same statements at the same concurrency, so the server's overhead over its own SQL
# can be read off.
# Results are summarised in docs/benchmarks/platform-load.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
PGURL_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
DB=agentry_load
PORT="${PORT:-3999}"

BIN="${CARGO_TARGET_DIR:-target}/release/agentry"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p agentry --quiet
psql "$PGURL_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
uptime

SERVER=
start_server() { # $1: AGENTRY_BENCH_BEFORE (empty: the current code)
  AGENTRY_BENCH_BEFORE="$1" "$BIN" server --http-address "127.0.0.1:$PORT" \
    --postgres-url "postgres://postgres@127.0.0.1:5432/$DB" 2>>/tmp/agentry-load.log &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
}
stop_server() { [ -n "$SERVER" ] || return 0; kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=; }
trap 'stop_server' EXIT

start_server ""
curl -sf -X POST "http://127.0.0.1:$PORT/api/v2/users/first" -H 'Content-Type: application/json' \
  -d '{"email":"load@example.com","username":"load","password":"load-test-password"}' >/dev/null
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v2/users/login" -H 'Content-Type: application/json' \
  -d '{"email":"load@example.com","password":"load-test-password"}' | sed -E 's/.*"session_token":"([^"]+)".*/\1/')
KEY_ID=${TOKEN%%-*}
USER_ID=$(curl -sf "http://127.0.0.1:$PORT/api/v2/users/me" -H "Coder-Session-Token: $TOKEN" | sed -E 's/.*"id":"([^"]+)".*/\1/')
ORG_ID=$(curl -sf "http://127.0.0.1:$PORT/api/v2/organizations/default" -H "Coder-Session-Token: $TOKEN" | sed -E 's/.*"id":"([^"]+)".*/\1/')
stop_server
# More members, so the member page has rows to filter, order and serialize (written in SQL:
# the API would hash a password per user).
MEMBERS="${MEMBERS:-0}"
if [ "$MEMBERS" -gt 0 ]; then
  psql "postgres://postgres@127.0.0.1:5432/$DB" -qc "
    INSERT INTO users (id, email, username, hashed_password)
      SELECT gen_random_uuid(), 'm' || i || '@x.test', 'member' || i, '!' FROM generate_series(1, $MEMBERS) i;
    INSERT INTO organization_members (organization_id, user_id, roles)
      SELECT '$ORG_ID', id, '{}' FROM users WHERE username LIKE 'member%';
    ANALYZE;"
fi

# The cheap reads, first as before issue 18's organization and member caches
# (AGENTRY_BENCH_BEFORE=org-cache,member-cache: every request reads its organizations and its
# member page from the database), then as now, in the same run.
# BEFORE=<toggles> picks another "before" (e.g. acquire-ping), PATHS=<paths> fewer endpoints.
PATHS="${PATHS:-/api/v2/users/me /api/v2/organizations /api/v2/organizations/default /api/v2/organizations/default/members}"
for before in "${BEFORE:-org-cache,member-cache}" ""; do
  echo "== wrk: ${CONNECTIONS} connections, ${DURATION}s each, AGENTRY_BENCH_BEFORE=${before:-(none)}"
  start_server "$before"
  for path in $PATHS; do
    echo "-- GET $path"
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Coder-Session-Token: $TOKEN" "http://127.0.0.1:$PORT$path" \
      | grep -E "Requests/sec|Latency|50%|99%|Non-2xx" || true
  done
  stop_server
  uptime
done

# The statements behind those requests, as pgbench scripts with the literal values of this run:
# the authentication query (agentry-store users::authenticate), which runs only when a session
# is not in the server's session cache; the organizations list (orgs::organizations) and the
# organization lookup (orgs::organization), which ran on every request before the organization
# cache; and the member page (members::members_page).
AUTH_SQL="SELECT u.id, u.email, u.username, u.name, u.status, u.site_roles, u.created_at,
  ARRAY(SELECT m.organization_id FROM organization_members m WHERE m.user_id = u.id ORDER BY m.created_at, m.organization_id) AS organization_ids,
  k.hashed_secret, k.expires_at,
  COALESCE((SELECT jsonb_agg(jsonb_build_object('org', m.organization_id, 'roles', m.roles)) FROM organization_members m WHERE m.user_id = u.id), '[]'::jsonb)
  FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = '$KEY_ID';"
ORGS_SQL="SELECT * FROM organizations WHERE TRUE ORDER BY is_default DESC, lower(name);"
ORG_SQL="SELECT * FROM organizations WHERE lower(name) = lower('default');"
MEMBERS_SQL="SELECT m.organization_id, m.user_id, u.username, u.name, u.email, m.roles, u.site_roles, m.created_at, m.updated_at
  FROM organization_members m JOIN users u ON u.id = m.user_id WHERE m.organization_id = '$ORG_ID' AND TRUE
  ORDER BY m.username_key, m.user_id LIMIT 100 OFFSET 0;"
echo "$AUTH_SQL" | tr '\n' ' ' > /tmp/agentry-auth.sql; echo >> /tmp/agentry-auth.sql
echo "$ORGS_SQL" > /tmp/agentry-orgs.sql
echo "$ORG_SQL" > /tmp/agentry-org.sql
echo "$MEMBERS_SQL" | tr '\n' ' ' > /tmp/agentry-members.sql; echo >> /tmp/agentry-members.sql
echo "== pgbench: the same SQL, ${CONNECTIONS} clients, ${DURATION}s each (prepared statements)"
for f in /tmp/agentry-auth.sql /tmp/agentry-orgs.sql /tmp/agentry-org.sql /tmp/agentry-members.sql; do
  echo "-- $(basename "$f")"
  pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$DURATION" -f "$f" "postgres://postgres@127.0.0.1:5432/$DB" \
    | grep -E "latency average|tps" || true
done
uptime
echo "user id: $USER_ID"
