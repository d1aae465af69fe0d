"""Out-of-range path ids and dates are 422s with a JSON error, not database overflows (found by fuzzing)."""

from __future__ import annotations

import pytest

from tests.apiutil import headers, make_client


@pytest.fixture()
def api(tmp_path):
    # the bounds are checked before any analysis, so no model is needed here
    return make_client(f"sqlite:///{tmp_path / 'b.db'}", analyzer=None)


@pytest.mark.parametrize("path,role", [
    ("/v1/feedback/99999999999999999999", "admin"),
    ("/v1/feedback/0", "admin"),
    ("/v1/feedback/99999999999999999999/labels", "analyst"),
])
def test_huge_or_zero_ids_are_422(api, path, role):
    client, create_key = api
    r = client.get(path, headers=headers(create_key(role)))
    assert r.status_code == 422, r.text
    assert "error" in r.json()


@pytest.mark.parametrize("query", ["from=0001-01-02", "to=9999-12-30", "from=1899-12-31&to=2024-01-01"])
def test_extreme_dates_are_422(api, query):
    client, create_key = api
    key = create_key("manager")
    for path in ("/v1/indicators", "/v1/reports/management-review?format=json"):
        sep = "&" if "?" in path else "?"
        r = client.get(f"{path}{sep}{query}", headers=headers(key))
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "indicators.date_out_of_range"
