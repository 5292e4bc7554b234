"""schemathesis hooks for scripts/schemathesis/run.py.

The fuzzer runs under one session token. A few requests would end that session or strip the
rights it runs with, and every later request would then get a 401 (or 403) that says nothing
about the operation under test. These hooks keep the operations in the run but point them
elsewhere:

- `POST /api/v2/users/logout` ends the token it is sent with: it is sent with a fresh API key
  of the same user, minted just for it.
- `DELETE /api/v2/users/{user}/keys/{id}` with the id of the fuzzer's own key would end its
  session: that id is replaced by one that names no key.
- `PUT /api/v2/users/{user}/roles` on the fuzzer itself would demote the site owner: it is
  pointed at another user (the "victim") instead.

Suspending oneself is refused by the server (400), so it needs no hook.

Reach: random ids name nothing, so most `{id}` routes would only ever answer 404. During
fuzzing, path parameters and a few body fields are drawn half the time from the objects
run.py seeded (the organization, users, a template, a workspace and its build, a chat, a file,
the provider and the model): `AGENTRY_FUZZ_KNOWN`, path parameters keyed by path prefix and
name, query parameters and body fields by operation.
"""

import json
import os
import urllib.request

import schemathesis
from hypothesis import strategies as st

BASE = os.environ["AGENTRY_FUZZ_BASE"]
TOKEN = os.environ["AGENTRY_FUZZ_TOKEN"]
SELF = {v.lower() for v in ("me", os.environ["AGENTRY_FUZZ_USER_ID"], os.environ["AGENTRY_FUZZ_USERNAME"])}
KEY_ID = os.environ["AGENTRY_FUZZ_KEY_ID"]
VICTIM = os.environ["AGENTRY_FUZZ_VICTIM_ID"]
# {"path": [[path prefix, parameter, [values]], ...], "query"/"body": [[method, path, name, [values]], ...]}
KNOWN = json.loads(os.environ.get("AGENTRY_FUZZ_KNOWN", "{}"))


def _known_path_values(path: str, params: dict) -> dict:
    """For each parameter of this path, the seeded values that fit it."""
    out = {}
    for prefix, name, values in KNOWN.get("path", []):
        if name in params and path.startswith(prefix) and ("{" + name + "}") in path:
            out.setdefault(name, values)
    return out


@schemathesis.hook
def flatmap_path_parameters(ctx, path_parameters):
    if not path_parameters or ctx.operation is None:
        return st.just(path_parameters)
    known = _known_path_values(ctx.operation.path, path_parameters)
    if not known:
        return st.just(path_parameters)
    swapped = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()}).map(
        lambda chosen: {**path_parameters, **chosen}
    )
    return st.one_of(st.just(path_parameters), swapped)


@schemathesis.hook
def flatmap_query(ctx, query):
    if not isinstance(query, dict) or ctx.operation is None:
        return st.just(query)
    op = ctx.operation
    known = {
        name: values
        for method, path, name, values in KNOWN.get("query", [])
        if method == op.method.upper() and path == op.path
    }
    if not known:
        return st.just(query)
    swapped = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()}).map(
        lambda chosen: {**query, **chosen}
    )
    return st.one_of(st.just(query), swapped)


@schemathesis.hook
def flatmap_body(ctx, body):
    if not isinstance(body, dict) or ctx.operation is None:
        return st.just(body)
    op = ctx.operation
    known = {
        field: values
        for method, path, field, values in KNOWN.get("body", [])
        if method == op.method.upper() and path == op.path
    }
    if not known:
        return st.just(body)
    swapped = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()}).map(
        lambda chosen: {**body, **chosen}
    )
    return st.one_of(st.just(body), swapped)


def _fresh_key() -> str:
    req = urllib.request.Request(
        f"{BASE}/api/v2/users/me/keys",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as res:
        return json.load(res)["key"]


def _is_self(value) -> bool:
    return isinstance(value, str) and value.lower() in SELF


@schemathesis.hook
def before_call(ctx, case, kwargs):
    op = case.operation
    method, path = op.method.upper(), op.path
    params = case.path_parameters or {}
    token = TOKEN
    if method == "POST" and path == "/api/v2/users/logout":
        token = _fresh_key()
    elif method == "DELETE" and path == "/api/v2/users/{user}/keys/{id}":
        if params.get("id") == KEY_ID:
            case.path_parameters = {**params, "id": "0000000000"}
    elif method == "PUT" and path == "/api/v2/users/{user}/roles":
        if _is_self(params.get("user")):
            case.path_parameters = {**params, "user": VICTIM}
    # Every request is authenticated here (not with `-H`, which would override this per-call
    # choice of token).
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
