"""Per-key rate limit: a token bucket per API key, in process memory.

Each key may send ``burst`` requests at once and then ``per_minute`` a minute. Over the limit →
429 with ``Retry-After`` (whole seconds until one request is allowed again). The state is per
process: with several workers each enforces the limit separately.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from nlp.errors import BazkhordError


class RateLimiter:
    def __init__(self, per_minute: int, burst: int = 0, clock: Any = time.monotonic) -> None:
        self.per_minute = per_minute
        self.capacity = float(burst or per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, last time)

    def check(self, principal: Any) -> None:
        if self.per_minute <= 0:
            return
        now = self._clock()
        key = principal.key_id
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return
            self._buckets[key] = (tokens, now)
        wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        raise BazkhordError(
            "auth.rate_limited",
            f"Too many requests for this key (limit {self.per_minute}/minute); retry in {wait} s.",
            {"retry_after_s": wait, "limit_per_minute": self.per_minute},
            http_status=429,
        )
