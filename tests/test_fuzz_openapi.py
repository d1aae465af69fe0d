"""Schemathesis against the app's own OpenAPI: every documented route, with a key of each role and with
none. No 5xx, and every response matches its documented schema. Bounded: a few examples per route.

Routes that start background work or destroy access (train, reanalyze, activate a model, revoke a key)
are left out here; the role matrix (tests/test_roles_matrix.py) covers their auth.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.permissions import ROLES
from tests.apiutil import load_test_analyzer, make_client

_STATE: dict = {}


def _app_and_keys():
    if not _STATE:
        import tempfile

        url = f"sqlite:///{tempfile.mkdtemp(prefix='bzk-fuzz-')}/fuzz.db"
        client, create_key = make_client(url, load_test_analyzer())
        _STATE["app"] = client.app
        _STATE["client"] = client
        _STATE["keys"] = {role: create_key(role, f"fuzz-{role}") for role in ROLES}
    return _STATE


EXCLUDED = r"^/v1/(models/train|feedback/reanalyze|models/\{version\}/activate)$"


def test_no_5xx_and_responses_match_schema():
    state = _app_and_keys()
    schema = (schemathesis.openapi.from_asgi("/openapi.json", state["app"])
              .exclude(path_regex=EXCLUDED).exclude(method="DELETE", path_regex=r"^/v1/keys/"))
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @settings(max_examples=3, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(op.as_strategy())
        def run(case):
            for role in (None, *ROLES):
                headers = {"X-API-Key": state["keys"][role]} if role else {}
                response = case.call(headers=headers)
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as exc:  # collect every route's failure, not only the first
            failures[op.label] = f"{type(exc).__name__}: {str(exc)[:600]}"
    assert operations >= 25
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
