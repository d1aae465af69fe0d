"""Service settings from the environment (prefix BAZKHORD_), read through one cached getter.

Tests override ``get_settings`` (FastAPI ``app.dependency_overrides`` or ``get_settings.cache_clear()``
after setting env vars).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BAZKHORD_", env_file=".env", extra="ignore")

    # SQLite file by default; PostgreSQL with e.g. postgresql+psycopg://user:pw@host/db
    database_url: str = "sqlite:///var/bazkhord.db"
    # Directory of the model to serve when the registry has no active version; None = bundled model.
    model_path: Path | None = None
    # Where trained model versions are written (registry artifacts).
    model_dir: Path = Path("var/models")
    store_raw_text: bool = False  # raw text is not stored unless explicitly configured
    max_text_chars: int = 5000
    max_analyze_items: int = 1000
    # plainly valid POST /v1/analyze requests skip FastAPI's per-request machinery (api/fastpath.py)
    analyze_fast_path: bool = True
    max_batch_items: int = 10000
    max_upload_bytes: int = 50 * 1024 * 1024
    registry_poll_seconds: float = 5.0  # replicas re-read the active model version this often; 0 disables
    rate_limit_per_minute: int = 600  # per API key; 0 disables
    rate_limit_burst: int = 0  # requests a key may send at once; 0 = one minute's worth
    auth_cache_seconds: float = 5.0  # a key revoked by another process stops working within this time
    max_import_rows: int = 200_000  # rows of one uploaded CSV/XLSX file
    # Day keys (day, jalali_day) are the calendar day here; naive timestamps are read in this zone.
    timezone: str = "Asia/Tehran"
    metrics_public: bool = True  # /metrics without a key (it holds counts and timings, no customer data)
    migrate_on_start: bool = True  # `bazkhord serve` applies pending migrations before serving
    min_n: int = 30  # indicators below this n are marked insufficient_data
    log_level: str = "INFO"
    log_format: str = "json"  # json (one object a line, with request ids) | text
    access_log: bool = True  # one line per request (route template, status, duration; never bodies)
    # `bazkhord serve`: worker processes (0 = one per CPU core, 1 to 4; each holds its own model),
    # request threads per worker (sync routes run there; CPU-bound Python gains nothing from more threads
    # than cores, and many threads stretch every request they share the GIL with: see the README's load
    # figures for 2 against 4), database connections
    # per worker (0 = one per thread, so no request waits for a connection), and the seconds in-flight requests get to finish
    # after SIGTERM/SIGINT before they are cancelled (no new connection is accepted meanwhile).
    workers: int = 0
    threads: int = 2
    db_pool_size: int = 0
    graceful_timeout_s: float = 30.0
    model_wait_s: float = 60.0  # a request that needs the model waits this long for the startup load
    # Retraining jobs (analysts' loop): base data files (canonical JSONL/CSV/XLSX; env value is a JSON
    # list) trained together with the gold labels in the database; share of gold labels held out.
    train_base_data: list[Path] = []
    train_holdout: float = 0.2
    train_min_labels: int = 10
    # Complaint handling (ISO 10002): triage rules file (None = bundled models/triage_rules.yaml),
    # service levels for the process indicators, recurrence windows and near-duplicate threshold.
    triage_rules_path: Path | None = None
    complaint_ack_sla_hours: float = 24.0
    complaint_sla_hours: float = 72.0
    recurrence_window_days: int = 30
    recurrence_min: int = 3
    systemic_min_scopes: int = 3
    duplicate_threshold: float = 0.8
    # One-record intake on SQLite decides from a per-process mirror of the recurrence window
    # (store/intake_mirror.py) instead of reading its part of the window per request; false: read it.
    intake_mirror: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
