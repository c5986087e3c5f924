"""Correlation ids and feedback ids."""

from __future__ import annotations

import importlib
import os
import secrets
import time
from typing import Any, Optional

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

_otel_trace: Any = None
_otel_checked = False


def _otel() -> Any:
    global _otel_trace, _otel_checked
    if not _otel_checked:
        _otel_checked = True
        try:
            # Imported by name: it is optional, and has no stubs to check.
            _otel_trace = importlib.import_module("opentelemetry.trace")
        except ImportError:
            _otel_trace = None
    return _otel_trace


def current_trace_id() -> Optional[str]:
    """The trace id of the current OpenTelemetry span as 32 lowercase hex
    digits, or None without opentelemetry-api or without a valid span.

    A valid but non-recording span (sampled out) counts: its trace id is
    still the one propagated to downstream services and logs, so feedback
    tied to it joins them all the same.
    """
    trace = _otel()
    if trace is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x")


def new_correlation_id() -> str:
    """A W3C trace-id-shaped id: 32 lowercase hex digits, not all zero."""
    while True:
        cid = secrets.token_hex(16)
        if cid != "0" * 32:
            return cid


def correlation_id() -> str:
    """The current trace id when there is one, else a new random id."""
    return current_trace_id() or new_correlation_id()


def new_feedback_id(now_ns: Optional[int] = None) -> str:
    """A ULID, the form feedbackd gives feedback without an id.

    The client names each feedback event itself so that a request retried
    after a lost answer stores the event once (feedback_id is the
    idempotency key). The standard library has no ULID; the format is 48 bits
    of milliseconds and 80 random bits in Crockford base32.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    n = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(out))
