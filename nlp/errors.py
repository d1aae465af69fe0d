"""The one error type every layer raises for problems a user can fix.

It lives at the bottom of the dependency chain (nlp) so that models, training, store and api can
all raise and catch it. ``code`` is stable (documented, tested, safe to match on); ``message`` is
for people and never contains customer text; ``details`` is structured (row numbers, fields).
The API maps it to ``{"error": {"code", "message", "details"}}`` with ``http_status``; the CLI
prints one line ``error[code]: message`` and exits with status 1.
"""

from __future__ import annotations

from typing import Any


class BazkhordError(Exception):
    http_status: int = 400

    def __init__(self, code: str, message: str, details: Any = None, http_status: int | None = None):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.details = details
        if http_status is not None:
            self.http_status = http_status

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}
