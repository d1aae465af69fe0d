"""Shared fixtures. Real data comes from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("BAZKHORD_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def require(condition: bool, reason: str) -> None:
    """Skip when a resource is missing, but fail in CI (BAZKHORD_REQUIRE_ALL_TESTS=1): CI skips nothing."""
    if condition:
        return
    if os.environ.get("BAZKHORD_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"required test resource missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    require(d is not None, "../shared/data not found (set BAZKHORD_SHARED_DATA)")
    return d  # type: ignore[return-value]


def dev_sample(data_dir: Path, out: Path, n: int) -> Path:
    """The first ``n`` lines of SnappFood's dev split copied to ``out`` (a small real JSONL input)."""
    with open(data_dir / "snappfood" / "dev.jsonl", encoding="utf-8") as src:
        out.write_text("".join(line for _, line in zip(range(n), src, strict=False)), encoding="utf-8")
    return out
