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
    max_batch_items: int = 10000
    max_upload_bytes: int = 50 * 1024 * 1024
    rate_limit_per_minute: int = 600  # per API key; 0 disables
    min_n: int = 30  # indicators below this n are marked insufficient_data
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
