"""Every route × every role × no key, generated from the app's own route table, against api.permissions.

A new route fails here until it is added to the permission table; a route whose ``require_roles`` differs
from the table fails; and a real request with each key must be refused (401 without a key, 403 with a
role the table does not allow) or let through (anything but 401/403/5xx) exactly as the table says.
"""

from __future__ import annotations

import re

import pytest

from api.permissions import PERMISSIONS, PUBLIC, ROLES, allowed, app_routes
from tests.apiutil import headers, load_test_analyzer, make_client


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('roles') / 'roles.db'}"
    client, create_key = make_client(url, load_test_analyzer())
    return client, {role: create_key(role, f"matrix-{role}") for role in ROLES}


def _routes(client) -> list[tuple[str, str, tuple[str, ...] | None, bool]]:
    return app_routes(client.app)


def test_every_route_is_in_the_permission_table(setup):
    client, _ = setup
    routes = {(m, p) for m, p, _r, _s in _routes(client)}
    missing = sorted(routes - PERMISSIONS.keys())
    stale = sorted(PERMISSIONS.keys() - routes)
    assert not missing, f"routes without an entry in api/permissions.py: {missing}"
    assert not stale, f"entries in api/permissions.py for routes that do not exist: {stale}"
    assert len(routes) >= 30  # the walker found the real route table, not an empty one


def test_declared_roles_match_the_table(setup):
    client, _ = setup
    wrong = []
    for method, path, declared, _ in _routes(client):
        intended = allowed(method, path)
        have = frozenset(declared) if declared else PUBLIC
        # /metrics checks its key inside (settings.metrics_public), not with require_roles
        if have != intended:
            wrong.append((method, path, sorted(have), sorted(intended or ())))
    assert not wrong, f"route roles differ from api/permissions.py (method, path, declared, intended): {wrong}"


def _fill(path: str) -> str:
    # ids that exist nowhere: an allowed call is then a 404/422, never a change to real data
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1).endswith("_id") else "no-such-thing", path)


def _call(client, method: str, path: str, key: str | None):
    kwargs = {"headers": headers(key) if key else {}}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = [1]  # never a valid body: allowed calls stop at validation, nothing starts
    return client.request(method, _fill(path), **kwargs)


CALLERS = (None, *ROLES)


def test_every_route_role_and_no_key(setup):
    client, keys = setup
    failures = []
    n = 0
    for method, path, _declared, _ in _routes(client):
        intended = allowed(method, path)
        for role in CALLERS:
            r = _call(client, method, path, keys[role] if role else None)
            n += 1
            if r.status_code >= 500:
                failures.append((method, path, role, r.status_code, "5xx"))
            elif intended == PUBLIC:
                if r.status_code in (401, 403):
                    failures.append((method, path, role, r.status_code, "public route refused"))
            elif role is None:
                if r.status_code != 401 or r.json()["error"]["code"] != "auth.missing_key":
                    failures.append((method, path, role, r.status_code, "expected 401 auth.missing_key"))
            elif role in intended:
                if r.status_code in (401, 403):
                    failures.append((method, path, role, r.status_code, "allowed role refused"))
            elif r.status_code != 403 or r.json()["error"]["code"] != "auth.forbidden":
                failures.append((method, path, role, r.status_code, "expected 403 auth.forbidden"))
    assert n >= 150
    assert not failures, failures


def test_bad_and_revoked_keys_are_401(setup):
    client, keys = setup
    r = client.get("/v1/feedback", headers=headers("bzk_" + "0" * 40))
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth.invalid_key"
    r = client.get("/v1/feedback", headers={"Authorization": f"Bearer {keys['analyst']}"})
    assert r.status_code == 200
    listed = client.get("/v1/keys", headers=headers(keys["admin"])).json()["items"]
    ids = [k["id"] for k in listed if k["name"] == "matrix-manager"]
    assert all("key_hash" not in k and keys["manager"] not in str(k) for k in listed)  # never the key itself
    assert ids
    assert client.delete(f"/v1/keys/{ids[0]}", headers=headers(keys["admin"])).status_code == 200
    r = client.get("/v1/indicators", headers=headers(keys["manager"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth.invalid_key"
