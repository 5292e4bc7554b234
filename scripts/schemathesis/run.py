#!/usr/bin/env python3
"""Fuzzes the HTTP API of a real agentry server with schemathesis, checking that the OpenAPI
document it serves tells the truth.

Starts the built `agentry server` (the debug binary under $CARGO_TARGET_DIR, or $AGENTRY_BIN)
on a fresh PostgreSQL database and `fakellm` ($AGENTRY_FAKELLM) as its model provider, creates the site owner and a plain member (with `agents-access`
in the default organization) through the API, then runs schemathesis against
`/api/v2/openapi.json` once as the member and once as the site owner, over the examples,
coverage, fuzzing and stateful phases. The checks: no 5xx (`not_a_server_error`), no status
the document does not list for the operation (`status_code_conformance`), no response body
or content type that contradicts it (`response_schema_conformance`,
`content_type_conformance`). Exits non-zero when any check failed or schemathesis errored.

The member runs first: the owner's run may suspend the member or remove it from organizations.
See hooks.py for the requests that are redirected so the fuzzer cannot end its own session.

Environment: DATABASE_URL (where a database may be created; default
postgres://postgres@127.0.0.1:5432/postgres), AGENTRY_BIN, AGENTRY_FUZZ_MAX_EXAMPLES
(fuzzing examples per operation, default 15), AGENTRY_FUZZ_SEED (default 1),
AGENTRY_FUZZ_REPORT_DIR (reports; default target/schemathesis).
"""

import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PHASES = "examples,coverage,fuzzing,stateful"
CHECKS = os.environ.get("AGENTRY_FUZZ_CHECKS", "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance")
TIMEOUT = 60


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-qc", sql], check=True, timeout=TIMEOUT, stdout=subprocess.DEVNULL)


def with_database(url: str, db: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + db))


def call(base: str, method: str, path: str, body=None, token: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
        raw = res.read()
        return json.loads(raw) if raw else None


def start_server(binary: str, db_url: str, data_dir: str, log) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [binary, "server", "--http-address", "127.0.0.1:0", "--postgres-url", db_url,
         "--data-dir", data_dir, "--chat-daemon", "false"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    line = child.stdout.readline()  # "agentry listening on http://127.0.0.1:PORT"
    if not line.startswith("agentry listening on "):
        child.kill()
        raise RuntimeError(f"the server did not start (first line: {line!r}); see its log")
    return child, line.split()[-1]


def start_fakellm(binary: str, log) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen([binary, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log, text=True)
    addr = child.stdout.readline().strip()  # "127.0.0.1:PORT"
    if ":" not in addr:
        child.kill()
        raise RuntimeError(f"fakellm did not start (first line: {addr!r})")
    return child, f"http://{addr}/v1"


def seed(base: str, model_url: str) -> dict:
    password = "fuzz-" + secrets.token_hex(8)
    first = call(base, "POST", "/api/v2/users/first",
                 {"email": "owner@example.com", "username": "owner", "password": password})
    org = first["organization_id"]
    owner = call(base, "POST", "/api/v2/users/login", {"email": "owner@example.com", "password": password})
    owner_token = owner["session_token"]
    member = call(base, "POST", "/api/v2/users",
                  {"email": "member@example.com", "username": "member", "password": password,
                   "organization_ids": [org]}, owner_token)
    call(base, "PUT", f"/api/v2/organizations/{org}/members/{member['id']}/roles",
         {"roles": ["agents-access"]}, owner_token)
    victim = call(base, "POST", "/api/v2/users",
                  {"email": "victim@example.com", "username": "victim", "password": password,
                   "organization_ids": [org]}, owner_token)
    member_token = call(base, "POST", "/api/v2/users/login",
                        {"email": "member@example.com", "password": password})["session_token"]
    # Something for links and list operations to find: a template and a workspace of the
    # member's, and a model served by agentry-fakellm (no chat daemon runs; title regeneration
    # calls the model from the request).
    template = call(base, "POST", f"/api/v2/organizations/{org}/templates",
                    {"name": "fuzz-template", "startup_script": "true"}, owner_token)
    workspace = call(base, "POST", f"/api/v2/organizations/{org}/members/{member['id']}/workspaces",
                     {"template_id": template["id"], "name": "fuzz-workspace"}, owner_token)
    provider = call(base, "POST", "/api/experimental/chats/providers",
                    {"provider": "openai", "api_key": "sk-fuzz", "base_url": model_url}, owner_token)
    model = call(base, "POST", "/api/experimental/chats/model-configs",
                 {"provider": "openai", "model": "fuzz-model", "is_default": True}, owner_token)
    # A chat of the member's (it stays pending: no chat daemon runs) and a file for it.
    chat = call(base, "POST", "/api/experimental/chats",
                {"organization_id": org, "content": [{"type": "text", "text": "hello"}]}, member_token)
    upload = urllib.request.Request(
        f"{base}/api/experimental/chats/files?organization={org}", data=b"fuzz file\n", method="POST",
        headers={"Authorization": f"Bearer {member_token}", "Content-Type": "text/plain"})
    with urllib.request.urlopen(upload, timeout=TIMEOUT) as res:
        file_id = json.load(res)["id"]
    users = [first["user_id"], member["id"], victim["id"], "me", "member", "victim"]
    known = json.dumps({
        "path": [
            ["/api/v2/organizations/", "org", [org]],
            ["/api/v2/users/", "org", [org]],
            ["/api/v2/organizations/", "user", users],
            ["/api/v2/users/", "user", users],
            ["/api/v2/templates/", "id", [template["id"]]],
            ["/api/v2/workspaces/", "id", [workspace["id"]]],
            ["/api/v2/workspacebuilds/", "id", [workspace["latest_build"]["id"]]],
            ["/api/experimental/chats/files/", "file", [file_id]],
            ["/api/experimental/chats/providers/", "provider", [provider["id"]]],
            ["/api/experimental/chats/model-configs/", "config", [model["id"]]],
            ["/api/experimental/chats/", "chat", [chat["id"]]],
        ],
        "query": [["POST", "/api/experimental/chats/files", "organization", [org]]],
        "body": [
            ["POST", "/api/experimental/chats", "organization_id", [org]],
            ["POST", "/api/v2/organizations/{org}/members/{user}/workspaces", "template_id", [template["id"]]],
            ["POST", "/api/v2/users", "organization_ids", [[org]]],
        ],
    })
    return {
        "member": {"id": member["id"], "username": "member", "token": member_token, "victim": victim["id"], "known": known},
        "owner": {"id": first["user_id"], "username": "owner", "token": owner_token, "victim": victim["id"], "known": known},
    }


def fuzz(schemathesis: str, base: str, who: str, identity: dict, report_dir: pathlib.Path) -> tuple[int, float]:
    env = dict(os.environ)
    env.update({
        "PYTHONDONTWRITEBYTECODE": "1",
        "SCHEMATHESIS_HOOKS": "hooks",
        "PYTHONPATH": str(HERE),
        "AGENTRY_FUZZ_BASE": base,
        "AGENTRY_FUZZ_TOKEN": identity["token"],
        "AGENTRY_FUZZ_USER_ID": identity["id"],
        "AGENTRY_FUZZ_USERNAME": identity["username"],
        "AGENTRY_FUZZ_KEY_ID": identity["token"].split("-", 1)[0],
        "AGENTRY_FUZZ_VICTIM_ID": identity["victim"],
        "AGENTRY_FUZZ_KNOWN": identity["known"],
    })
    args = [
        schemathesis, "run", f"{base}/api/v2/openapi.json", "--url", base,
        "--phases", PHASES, "--checks", CHECKS,
        "--max-examples", os.environ.get("AGENTRY_FUZZ_MAX_EXAMPLES", "15"),
        "--seed", os.environ.get("AGENTRY_FUZZ_SEED", "1"),
        "--workers", "1", "--request-timeout", str(TIMEOUT),
        "--suppress-health-check", "all", "--no-color",
        "--report", "junit,ndjson", "--report-dir", str(report_dir / who),
    ]
    (report_dir / who).mkdir(parents=True, exist_ok=True)
    print(f"schemathesis as the {who}: {' '.join(args[1:4])} ...", flush=True)
    started = time.monotonic()
    # schemathesis keeps a cache in its working directory: the report directory, not the repository.
    rc = subprocess.run(args, env=env, cwd=report_dir / who).returncode
    return rc, time.monotonic() - started


def main() -> int:
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = os.environ.get("AGENTRY_BIN", str(target / "debug" / "agentry"))
    fakellm = os.environ.get("AGENTRY_FAKELLM", str(target / "debug" / "fakellm"))
    schemathesis = str(pathlib.Path(sys.executable).parent / "schemathesis")
    report_dir = pathlib.Path(os.environ.get("AGENTRY_FUZZ_REPORT_DIR", target / "schemathesis"))
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    admin = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db = "agentry_fuzz_" + secrets.token_hex(6)
    data_dir = tempfile.mkdtemp(prefix="agentry-fuzz-")
    log_path = report_dir / "server.log"
    psql(admin, f"CREATE DATABASE {db}")
    server = None
    model = None
    failed = False
    try:
        with open(log_path, "w") as log:
            model, model_url = start_fakellm(fakellm, log)
            server, base = start_server(binary, with_database(admin, db), data_dir, log)
            ids = seed(base, model_url)
            for who in ("member", "owner"):
                rc, secs = fuzz(schemathesis, base, who, ids[who], report_dir)
                print(f"schemathesis as the {who}: exit {rc} after {secs:.0f} s", flush=True)
                failed |= rc != 0
    except Exception as e:  # noqa: BLE001 - reported and turned into a failure
        print(f"api fuzzing failed: {e}", file=sys.stderr)
        failed = True
    finally:
        if model is not None:
            model.kill()
            model.wait()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)
    if failed:
        print(f"api fuzzing failed; the server's log is {log_path}, reports are in {report_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
