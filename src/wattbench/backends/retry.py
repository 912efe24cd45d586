"""Retrying a request to a server: bounded attempts, exponential backoff with jitter, Retry-After.

Only failures that a later attempt can fix are retried: the connection refused or dropped, a
timeout, HTTP 429 (rate limit) and 5xx (the server's trouble). Every attempt is counted, so a
record shows what its figures cost. Secrets never reach a message: ``redact`` scrubs them.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Retryable(Exception):
    """A failed attempt that another attempt may fix; ``wait_s`` is the server's Retry-After."""

    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


class RetriesExhausted(Exception):
    """Every attempt failed; the message holds the last reason and the attempt count."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})")
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` further attempts after the first; backoff base x 2^n, capped, with full jitter."""

    retries: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_s)
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


@dataclass
class Attempts:
    """How many attempts a call took and how long it waited between them."""

    count: int = 0
    waited_s: float = 0.0


def call_with_retries(
    send: Callable[[], T],
    policy: RetryPolicy,
    attempts: Attempts,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """``send()`` until it returns or raises something other than Retryable, or attempts run out."""
    rng = rng or random.Random()
    while True:
        attempts.count += 1
        try:
            return send()
        except Retryable as exc:
            if attempts.count > policy.retries:
                raise RetriesExhausted(exc.reason, attempts.count) from None
            wait = policy.delay(attempts.count, exc.wait_s, rng)
            attempts.waited_s += wait
            sleep(wait)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, every URL's user info and every URL query string replaced by
    '***'."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(https?://)[^\s/@\"']+@", r"\1***@", text)
    return re.sub(r"(https?://[^\s?#\"']+)\?[^\s#\"']*", r"\1?***", text)


def public_url(url: str) -> str:
    """``url`` as it may be shown and stored: no user info, query string or fragment
    (``http://user:pw@host:8000/v1?key=k`` -> ``http://host:8000/v1``)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials: its password, user name and query values."""
    parts = urllib.parse.urlsplit(url)
    found = [parts.password or "", parts.username or ""]
    found += [value for _key, value in urllib.parse.parse_qsl(parts.query) if len(value) >= 4]
    return [secret for secret in found if secret]
