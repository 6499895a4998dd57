"""Admission control: what the server refuses early so that a flood cannot hurt what it accepts.

* `IntakeLimiter` bounds the reports being started at once. A report over the bound is refused
  at once (503 `intake_busy` with `Retry-After`) instead of queueing behind the others: before
  anything is written, so the client's retry (with its Idempotency-Key) is always safe.
* `LoginThrottle` counts failed sign-ins per username and per client address in a sliding
  window; over the limit, sign-in is refused (429 `too_many_attempts`) without checking the
  password, so guessing costs the guesser time and the server no argon2 work.

Both hold their state in memory, per process: enough for the one-process `gridloop up`.
"""

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from starlette.requests import Request


class Saturated(Exception):
    """The intake is at its bound (answered 503 with the API's usual `Retry-After`)."""


class IntakeLimiter:
    """At most `limit` reports in flight. Not a queue: a report over the bound fails at once,
    because a client waiting in a queue it cannot see retries anyway, doubling the load."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the slots for the body of the `with`; raises Saturated if none is free.

        No lock is needed: the check and the increment run without an await between them, on the
        one event loop that serves every request.
        """
        if self.in_flight >= self.limit:
            raise Saturated(f"{self.in_flight} reports in flight")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"throttled, retry after {retry_after}s")


class LoginThrottle:
    """Failed sign-ins per username and per client address within `window` seconds.

    The address limit is the higher one: many people may sign in from behind one office NAT,
    while one username has one owner.
    """

    # Past this many keys, expired ones are swept at each failure, so that made-up usernames
    # cost memory for one window only.
    MAX_KEYS = 100_000

    def __init__(
        self,
        per_username: int,
        per_address: int,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"user": per_username, "addr": per_address}
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        # Sign-in routes are plain `def`s, run on the thread pool: the counts need a lock.
        self._lock = threading.Lock()

    def check(self, username: str, address: str) -> None:
        """Raise Throttled if either the username or the address has used up its failures."""
        with self._lock:
            now = self.clock()
            wait = max(
                self._wait(("user", username.casefold()), now),
                self._wait(("addr", address), now),
            )
        if wait > 0:
            raise Throttled(max(1, math.ceil(wait)))

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._failures) >= self.MAX_KEYS:
                self._forget_expired(now)
            for key in (("user", username.casefold()), ("addr", address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        """The owner got in: their username's count starts again (the address's does not, so a
        guesser with one valid account cannot reset it)."""
        with self._lock:
            self._failures.pop(("user", username.casefold()), None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        """Seconds until `key` may fail again; 0 if it may now."""
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        limit = self.limits[key[0]]
        if len(failures) < limit:
            return 0
        # The oldest failure that still counts against the limit must leave the window.
        return failures[len(failures) - limit] + self.window - now

    def _forget_expired(self, now: float) -> None:
        for key in list(self._failures):
            failures = self._failures[key]
            if not failures or failures[-1] <= now - self.window:
                del self._failures[key]


def client_address(request: Request) -> str:
    """The peer's address, as the server sees it. Behind a reverse proxy, run uvicorn with
    `--proxy-headers` so that this is the client's and not the proxy's."""
    return request.client.host if request.client else "unknown"
