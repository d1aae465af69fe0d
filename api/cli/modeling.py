"""CLI commands: modeling (filled in by the issue that owns them)."""

from api.cli.app import app  # noqa: F401
