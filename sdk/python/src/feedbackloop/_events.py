"""Turning keyword arguments into events.

Only shapes are checked here (types, required fields, enums): an argument of
the wrong type fails at the call, naming the field. The content rules
(taxonomy, sizes, formats) are feedbackd's, which answers a refusal with the
index and field (see RejectedError); repeating them here would let the two
drift apart.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._errors import InvalidEventError
from ._types import Context, Edit, Event, Model, User

SCHEMA = "feedback/v1"
SENTIMENTS = ("positive", "negative", "neutral")
SEVERITIES = ("info", "warning", "critical")
SOURCES = ("thumbs", "modal", "edit", "survey", "api", "reviewer")

# feedbackd's limits (docs/python.md, "Limits").
MAX_EVENT_BYTES = 256 << 10
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 4 << 20

# The endpoint of each kind (escalations go with reviews, notifications with
# resolutions).
ENDPOINTS = {
    "feedback": "/v1/feedback",
    "interaction": "/v1/interactions",
    "review": "/v1/reviews",
    "escalation": "/v1/reviews",
    "resolution": "/v1/resolutions",
    "notification": "/v1/resolutions",
}

TimeLike = Union[str, _dt.datetime]


def format_time(t: Union[TimeLike, int, None] = None) -> str:
    """RFC 3339 in UTC with nine fractional digits, feedbackd's own form.

    t is a timezone-aware datetime, an RFC 3339 string (kept as given), a
    count of nanoseconds since the epoch, or None for now.
    """
    if isinstance(t, str):
        return t
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None or t.utcoffset() is None:
            raise InvalidEventError("timestamp", "datetime must be timezone-aware")
        u = t.astimezone(_dt.timezone.utc)
        return u.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (u.microsecond * 1000)
    ns = time.time_ns() if t is None else t
    s, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac


def _time(field: str, v: Optional[TimeLike]) -> Optional[str]:
    if v is None:
        return None
    if not isinstance(v, (str, _dt.datetime)):
        raise InvalidEventError(field, f"must be an RFC 3339 string or a datetime, got {type(v).__name__}")
    try:
        return format_time(v)
    except InvalidEventError as e:
        raise InvalidEventError(field, e.message) from None


def _str(field: str, v: Any, required: bool = False) -> Optional[str]:
    if v is None or v == "":
        if required:
            raise InvalidEventError(field, "required")
        return None
    if not isinstance(v, str):
        raise InvalidEventError(field, f"must be a string, got {type(v).__name__}")
    return v


def _enum(field: str, v: Any, allowed: Sequence[str], required: bool = False) -> Optional[str]:
    s = _str(field, v, required)
    if s is not None and s not in allowed:
        raise InvalidEventError(field, f"must be one of {', '.join(allowed)}, got {s!r}")
    return s


def _number(field: str, v: Any) -> Union[int, float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidEventError(field, f"must be a number, got {type(v).__name__}")
    if isinstance(v, float) and not math.isfinite(v):
        raise InvalidEventError(field, "must be a finite number")
    return v


def _str_list(field: str, v: Any) -> Optional[List[str]]:
    if v is None:
        return None
    if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
        raise InvalidEventError(field, f"must be a list of strings, got {type(v).__name__}")
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise InvalidEventError(f"{field}[{i}]", f"must be a string, got {type(s).__name__}")
    return list(v)


def _attributes(v: Optional[Mapping[str, str]]) -> Optional[Dict[str, str]]:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        raise InvalidEventError("attributes", f"must be a mapping of strings, got {type(v).__name__}")
    for k, val in v.items():
        if not isinstance(k, str):
            raise InvalidEventError("attributes", f"keys must be strings, got {type(k).__name__}")
        if not isinstance(val, str):
            raise InvalidEventError(f"attributes.{k}", f"must be a string, got {type(val).__name__}")
    return dict(v)


def _params(v: Any) -> Optional[Dict[str, Any]]:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        raise InvalidEventError("context.params", f"must be a mapping, got {type(v).__name__}")
    out: Dict[str, Any] = {}
    for k, val in v.items():
        if not isinstance(k, str):
            raise InvalidEventError("context.params", f"keys must be strings, got {type(k).__name__}")
        if isinstance(val, str):
            out[k] = val
        else:
            try:
                out[k] = _number(f"context.params.{k}", val)
            except InvalidEventError:
                raise InvalidEventError(
                    f"context.params.{k}", f"must be a number or a string, got {type(val).__name__}"
                ) from None
    return out


def model(model_id: Any, version: Any, released_at: Optional[TimeLike]) -> Model:
    m: Model = {"id": _str("model.id", model_id, True) or "", "version": _str("model.version", version, True) or ""}
    ra = _time("model.released_at", released_at)
    if ra is not None:
        m["released_at"] = ra
    return m


def user(user_id: Any, role: Any, geo: Any) -> Optional[User]:
    u: User = {}
    for key, val in (("id", user_id), ("role", role), ("geo", geo)):
        s = _str("user." + key, val)
        if s is not None:
            u[key] = s  # type: ignore[literal-required]
    return u or None


def context(
    system_prompt: Any, input: Any, output: Any, params: Any, prompt_version: Any
) -> Optional[Context]:
    c: Context = {}
    for key, val in (("system_prompt", system_prompt), ("input", input), ("output", output)):
        s = _str("context." + key, val)
        if s is not None:
            c[key] = s  # type: ignore[literal-required]
    p = _params(params)
    if p is not None:
        c["params"] = p
    pv = _str("context.prompt_version", prompt_version)
    if pv is not None:
        c["prompt_version"] = pv
    return c or None


def edit(v: Optional[Mapping[str, Any]]) -> Optional[Edit]:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        raise InvalidEventError("edit", f"must be a mapping, got {type(v).__name__}")
    extra = set(v) - {"original_chars", "edited_chars", "similarity"}
    if extra:
        raise InvalidEventError("edit." + sorted(extra)[0], "unknown field")
    out: Dict[str, Any] = {}
    for key in ("original_chars", "edited_chars"):
        n = v.get(key)
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidEventError("edit." + key, "required: an integer")
        out[key] = n
    out["similarity"] = _number("edit.similarity", v.get("similarity"))
    return out  # type: ignore[return-value]


def put(ev: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        ev[key] = value


def encode(ev: Event) -> bytes:
    """The event's JSON; an event over feedbackd's size limit is refused
    here, before it can hold up a batch."""
    try:
        body = json.dumps(ev, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidEventError("event", f"not representable as JSON: {e}") from None
    if len(body) > MAX_EVENT_BYTES:
        raise InvalidEventError("event", f"too large: {len(body)} bytes, the limit is 256 KiB")
    return body


def check_sendable(ev: Any) -> Event:
    """The checks send() applies to a hand-built event."""
    if not isinstance(ev, Mapping):
        raise InvalidEventError("event", f"must be a mapping, got {type(ev).__name__}")
    kind = _enum("kind", ev.get("kind"), tuple(ENDPOINTS), required=True)
    if kind in ("feedback", "interaction"):
        _str("correlation_id", ev.get("correlation_id"), True)
        m = ev.get("model")
        if not isinstance(m, Mapping):
            raise InvalidEventError("model", "required on kind " + str(kind))
        _str("model.id", m.get("id"), True)
        _str("model.version", m.get("version"), True)
    return dict(ev)  # type: ignore[return-value]
