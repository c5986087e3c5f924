"""The client: queueing, batching, retries and delivery to feedbackd."""

from __future__ import annotations

import atexit
import collections
import email.utils
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from . import _events
from ._errors import (
    ClosedError,
    DeliveryError,
    FeedbackLoopError,
    FieldError,
    QueueFullError,
    RejectedError,
    UndeliveredError,
)
from ._events import TimeLike
from ._ids import new_feedback_id
from ._types import Event

__all__ = ["Client", "Retry", "Stats"]

log = logging.getLogger("feedbackloop")

VERSION = "0.1.0"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Retry:
    """How a request is retried after a network error, HTTP 429, 503 or
    another 5xx. Other answers (400, 401, 403, 413, ...) are never retried.

    The n-th retry waits the server's Retry-After when it sent one (at most
    max_retry_after seconds), else an exponential backoff with jitter:
    a uniformly random time between half and all of
    min(max_backoff, initial_backoff * 2**n).
    """

    max_attempts: int = 10
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0

    def backoff(self, retry: int, rnd: float) -> float:
        d = min(self.max_backoff, self.initial_backoff * float(2**retry))
        return d / 2 + rnd * d / 2


@dataclass
class Stats:
    """Counters since the client was made."""

    queued: int = 0
    delivered: int = 0
    refused: int = 0
    undelivered: int = 0
    queue_full: int = 0
    requests: int = 0
    retries: int = 0


@dataclass
class _Pending:
    seq: int
    path: str
    event: Event
    body: bytes
    queued_at: float


class _Retryable(Exception):
    def __init__(self, reason: str, status: Optional[int] = None, retry_after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class Client:
    """Sends feedback and interaction snapshots to feedbackd.

    Events are queued and sent by a background thread in batches of up to
    ``batch_size`` events, at the latest ``max_delay`` seconds after the
    first of them was queued. When ``queue_size`` events are waiting, a new
    one is refused with QueueFullError (counted in ``stats.queue_full``):
    nothing already queued is dropped and the caller decides what the refusal
    means. Delivery failures are reported to ``on_error`` (from the sender
    thread), logged on the "feedbackloop" logger and raised by the next
    flush() or close() as a DeliveryError.

    close() runs at interpreter exit for clients not closed before.
    """

    def __init__(
        self,
        endpoint: str,
        token: Optional[str] = None,
        *,
        model_id: Optional[str] = None,
        model_version: Optional[str] = None,
        released_at: Optional[TimeLike] = None,
        batch_size: int = 100,
        max_delay: float = 1.0,
        queue_size: int = 10_000,
        timeout: float = 10.0,
        retry: Optional[Retry] = None,
        on_error: Optional[Callable[[FeedbackLoopError], None]] = None,
        _sleep: Optional[Callable[[float], None]] = None,
        _random: Optional[Callable[[], float]] = None,
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL such as http://127.0.0.1:8787, got {endpoint!r}")
        if not 1 <= batch_size <= _events.MAX_BATCH_EVENTS:
            raise ValueError(f"batch_size must be within 1..{_events.MAX_BATCH_EVENTS}, got {batch_size}")
        if max_delay <= 0 or queue_size < 1 or timeout <= 0:
            raise ValueError("max_delay and timeout must be positive and queue_size at least 1")
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self.model_id = model_id
        self.model_version = model_version
        self.released_at = released_at
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.queue_size = queue_size
        self.timeout = timeout
        self.retry = retry or Retry()
        self.on_error = on_error
        self.stats = Stats()
        # close() interrupts a backoff once, so that a long Retry-After does
        # not hold it up; the next wait is then measured against its deadline.
        self._interrupt = threading.Event()
        self._sleep = _sleep or self._backoff_sleep
        self._random = _random or random.random

        self._cond = threading.Condition()
        self._queue: Deque[_Pending] = collections.deque()
        self._seq = 0  # last queued
        self._done = 0  # every event up to this seq is delivered or failed
        self._flush_to = 0  # send without waiting for a full batch up to this seq
        self._closing = False
        self._deadline: Optional[float] = None  # monotonic; give up retrying after it
        self._errors: List[FeedbackLoopError] = []

        # The sender is a daemon so that a client never blocks interpreter
        # exit; the atexit hook (which runs while daemons still do) flushes.
        self._thread = threading.Thread(target=self._run, name="feedbackloop-sender", daemon=True)
        self._thread.start()
        self._atexit = lambda: _close_at_exit(self)
        atexit.register(self._atexit)

    # -- public API ------------------------------------------------------

    def feedback(
        self,
        correlation_id: str,
        sentiment: str,
        *,
        model_id: Optional[str] = None,
        model_version: Optional[str] = None,
        released_at: Optional[TimeLike] = None,
        score: Optional[float] = None,
        reason: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        comment: Optional[str] = None,
        source: str = "api",
        severity: Optional[str] = None,
        user_id: Optional[str] = None,
        user_role: Optional[str] = None,
        user_geo: Optional[str] = None,
        attributes: Optional[Mapping[str, str]] = None,
        edit: Optional[Mapping[str, Any]] = None,
        feedback_id: Optional[str] = None,
        timestamp: Optional[TimeLike] = None,
    ) -> str:
        """Queues a feedback event and returns its feedback_id.

        sentiment is positive, negative or neutral; reason and tags are
        taxonomy tags (hallucination, factually_incorrect, ...) or custom
        tags. A reason not in tags is added to them, as the widget does.
        """
        ev: Dict[str, Any] = {"schema": _events.SCHEMA, "kind": "feedback"}
        ev["feedback_id"] = _events._str("feedback_id", feedback_id) or new_feedback_id()
        ev["correlation_id"] = _events._str("correlation_id", correlation_id, True)
        ev["timestamp"] = _events._time("timestamp", timestamp) or _events.format_time()
        ev["model"] = self._model(model_id, model_version, released_at)
        ev["sentiment"] = _events._enum("sentiment", sentiment, _events.SENTIMENTS, True)
        if score is not None:
            ev["score"] = _events._number("score", score)
        r = _events._str("reason", reason)
        t = _events._str_list("tags", tags)
        if r is not None:
            ev["reason"] = r
            if t is None:
                t = [r]
            elif r not in t:
                t = [r] + t
        ev["tags"] = t if t is not None else []
        _events.put(ev, "severity", _events._enum("severity", severity, _events.SEVERITIES))
        _events.put(ev, "comment", _events._str("comment", comment))
        _events.put(ev, "source", _events._enum("source", source, _events.SOURCES))
        _events.put(ev, "user", _events.user(user_id, user_role, user_geo))
        _events.put(ev, "attributes", _events._attributes(attributes))
        _events.put(ev, "edit", _events.edit(edit))
        self._enqueue(ev)  # type: ignore[arg-type]
        return str(ev["feedback_id"])

    def interaction(
        self,
        correlation_id: str,
        *,
        model_id: Optional[str] = None,
        model_version: Optional[str] = None,
        released_at: Optional[TimeLike] = None,
        system_prompt: Optional[str] = None,
        input: Optional[str] = None,
        output: Optional[str] = None,
        params: Optional[Mapping[str, Union[int, float, str]]] = None,
        prompt_version: Optional[str] = None,
        user_id: Optional[str] = None,
        user_role: Optional[str] = None,
        user_geo: Optional[str] = None,
        attributes: Optional[Mapping[str, str]] = None,
        timestamp: Optional[TimeLike] = None,
    ) -> str:
        """Queues the snapshot of one model call and returns its
        correlation_id, the id feedback on this answer must carry."""
        ev: Dict[str, Any] = {"schema": _events.SCHEMA, "kind": "interaction"}
        ev["correlation_id"] = _events._str("correlation_id", correlation_id, True)
        ev["timestamp"] = _events._time("timestamp", timestamp) or _events.format_time()
        ev["model"] = self._model(model_id, model_version, released_at)
        _events.put(ev, "user", _events.user(user_id, user_role, user_geo))
        _events.put(ev, "attributes", _events._attributes(attributes))
        _events.put(ev, "context", _events.context(system_prompt, input, output, params, prompt_version))
        self._enqueue(ev)  # type: ignore[arg-type]
        return str(ev["correlation_id"])

    def send(self, event: Event) -> None:
        """Queues a hand-built event of any kind (review, resolution, ...)
        for its endpoint, as given: feedbackd fills in schema, timestamp and
        the ids it owns."""
        self._enqueue(_events.check_sendable(event))

    def record(self, **kwargs: Any) -> Any:
        """A context manager around one model call; see feedbackloop.record."""
        from ._record import record

        return record(self, **kwargs)

    def recorded(self, **kwargs: Any) -> Callable[[F], F]:
        """A decorator around a function that calls the model once; see
        feedbackloop.recorded."""
        from ._record import recorded

        return recorded(self, **kwargs)

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends everything queued so far and waits until it is delivered or
        has failed. Raises DeliveryError for failures since the last flush,
        TimeoutError when timeout seconds pass first."""
        with self._cond:
            target = self._seq
            self._flush_to = max(self._flush_to, target)
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._done >= target, timeout):
                raise TimeoutError(f"flush: {target - self._done} event(s) still being sent after {timeout} s")
            self._raise_errors()

    def close(self, timeout: float = 30.0) -> None:
        """Delivers everything queued, for at most timeout seconds, then stops
        the sender. Events still undelivered then are reported as an
        UndeliveredError. Raises DeliveryError like flush(). Later calls to
        feedback() and interaction() raise ClosedError."""
        with self._cond:
            first = not self._closing
            if first:
                self._closing = True
                self._deadline = time.monotonic() + timeout
                self._cond.notify_all()
                self._interrupt.set()
        if first:
            atexit.unregister(self._atexit)
        self._thread.join(timeout + self.timeout + 1)
        with self._cond:
            if self._queue:
                # Only when the sender is stuck past its own deadline.
                rest = list(self._queue)
                self._queue.clear()
                self._fail(UndeliveredError([p.event for p in rest], "close() timed out"))
                self._done = self._seq
            self._raise_errors()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals -------------------------------------------------------

    def _backoff_sleep(self, seconds: float) -> None:
        if self._interrupt.wait(seconds):
            self._interrupt.clear()

    def _model(self, model_id: Optional[str], version: Optional[str], released_at: Optional[TimeLike]) -> Any:
        return _events.model(
            model_id if model_id is not None else self.model_id,
            version if version is not None else self.model_version,
            released_at if released_at is not None else self.released_at,
        )

    def _enqueue(self, ev: Event) -> None:
        path = _events.ENDPOINTS[str(ev.get("kind"))]
        body = _events.encode(ev)
        with self._cond:
            if self._closing:
                raise ClosedError("the client is closed")
            if len(self._queue) >= self.queue_size:
                self.stats.queue_full += 1
                raise QueueFullError(
                    f"{len(self._queue)} events are waiting to be sent (queue_size); feedbackd is slow or unreachable"
                )
            self._seq += 1
            self._queue.append(_Pending(self._seq, path, ev, body, time.monotonic()))
            self.stats.queued += 1
            if len(self._queue) >= self.batch_size or len(self._queue) == 1:
                self._cond.notify_all()

    def _raise_errors(self) -> None:
        if self._errors:
            errs, self._errors = self._errors, []
            raise DeliveryError(errs)

    def _fail(self, err: FeedbackLoopError) -> None:
        """Records a failure; called with the lock held."""
        if isinstance(err, RejectedError):
            self.stats.refused += len(err.events)
        elif isinstance(err, UndeliveredError):
            self.stats.undelivered += len(err.events)
        # Bounded: a client nobody flushes must not grow without limit.
        if len(self._errors) < 1000:
            self._errors.append(err)
        log.error("feedbackloop: %s", err)
        if self.on_error is not None:
            cb = self.on_error
            self._cond.release()
            try:
                cb(err)
            except Exception:  # a broken callback must not kill the sender
                log.exception("feedbackloop: on_error raised")
            finally:
                self._cond.acquire()

    def _take(self) -> Optional[List[_Pending]]:
        """Waits for the next batch; None once closed and drained."""
        with self._cond:
            while True:
                if not self._queue:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                head = self._queue[0]
                ready = (
                    len(self._queue) >= self.batch_size
                    or self._closing
                    or head.seq <= self._flush_to
                )
                wait = head.queued_at + self.max_delay - time.monotonic()
                if ready or wait <= 0:
                    break
                self._cond.wait(wait)
            batch: List[_Pending] = []
            size = 2
            while self._queue and len(batch) < self.batch_size:
                p = self._queue[0]
                if batch and size + len(p.body) + 1 > _events.MAX_BATCH_BYTES:
                    break
                size += len(p.body) + 1
                batch.append(self._queue.popleft())
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            groups: Dict[str, List[_Pending]] = {}
            for p in batch:
                groups.setdefault(p.path, []).append(p)
            for path, items in groups.items():
                try:
                    self._deliver(path, items)
                except Exception as e:  # never let the sender die with events queued
                    with self._cond:
                        self._fail(UndeliveredError([p.event for p in items], f"client error: {e!r}"))
            with self._cond:
                self._done = batch[-1].seq
                self._cond.notify_all()

    def _deliver(self, path: str, items: List[_Pending]) -> None:
        """Sends items to path until each is delivered or has failed."""
        work: List[List[_Pending]] = [items]
        while work:
            items = work.pop()
            outcome = self._post_with_retries(path, items)
            if outcome is _GAVE_UP:
                continue
            if outcome is None:
                with self._cond:
                    self.stats.delivered += len(items)
                continue
            status, message, details = outcome
            bad = sorted({d.index for d in details})
            if bad and all(0 <= i < len(items) for i in bad):
                # feedbackd writes nothing of a refused request; the events
                # it did not name are sent again on their own.
                by_index: Dict[int, List[FieldError]] = {}
                for d in details:
                    by_index.setdefault(d.index, []).append(d)
                with self._cond:
                    for i in bad:
                        self._fail(RejectedError(status, message, [items[i].event], by_index[i]))
                rest = [p for i, p in enumerate(items) if i not in by_index]
                if rest:
                    work.append(rest)
            elif status == 413 and len(items) > 1:
                half = len(items) // 2
                work.append(items[half:])
                work.append(items[:half])
            else:
                with self._cond:
                    self._fail(RejectedError(status, message, [p.event for p in items], details))

    def _post_with_retries(self, path: str, items: List[_Pending]) -> Any:
        """None when feedbackd accepted the batch, _GAVE_UP when retries ran
        out (reported here), else the permanent refusal (status, message,
        details)."""
        body = b"[" + b",".join(p.body for p in items) + b"]"
        retries = 0
        while True:
            try:
                return self._post(path, body)
            except _Retryable as r:
                last = r
            retries += 1
            wait = (
                min(last.retry_after, self.retry.max_retry_after)
                if last.retry_after is not None
                else self.retry.backoff(retries - 1, self._random())
            )
            with self._cond:
                deadline = self._deadline
            give_up = None
            if retries >= self.retry.max_attempts:
                give_up = f"gave up after {retries} attempts; last: {last.reason}"
            elif deadline is not None and time.monotonic() + wait > deadline:
                give_up = f"close() timeout reached while retrying; last: {last.reason}"
            if give_up is not None:
                with self._cond:
                    self._fail(UndeliveredError([p.event for p in items], give_up, last.status))
                return _GAVE_UP
            with self._cond:
                self.stats.retries += 1
            log.warning("feedbackloop: %s; retrying in %.1f s", last.reason, wait)
            self._sleep(wait)

    def _post(self, path: str, body: bytes) -> Optional[Tuple[int, str, List[FieldError]]]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "feedbackloop-python/" + VERSION,
        }
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        req = urllib.request.Request(self.endpoint + path, data=body, headers=headers, method="POST")
        with self._cond:
            self.stats.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
                return None
        except urllib.error.HTTPError as e:
            status, hdrs = e.code, e.headers
            try:
                data = e.read(1 << 20)
            except (OSError, http.client.HTTPException):
                data = b""
        except (OSError, http.client.HTTPException) as e:
            # URLError, refused and reset connections, timeouts, truncated
            # answers: the request may or may not have arrived, and a repeat
            # is harmless because every event carries its idempotency key.
            raise _Retryable(f"POST {path}: {e}") from None
        message, details = _parse_error(data)
        if status == 429 or status >= 500:
            raise _Retryable(
                f"POST {path}: HTTP {status}: {message}", status, _retry_after(hdrs.get("Retry-After"))
            )
        return status, message, details


_GAVE_UP = object()


def _parse_error(data: bytes) -> Tuple[str, List[FieldError]]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data.decode("utf-8", "replace").strip()[:500] or "(no body)", []
    if not isinstance(doc, dict):
        return str(doc)[:500], []
    details: List[FieldError] = []
    for d in doc.get("details") or []:
        if isinstance(d, dict) and isinstance(d.get("index"), int):
            details.append(FieldError(d["index"], str(d.get("field") or ""), str(d.get("message") or "")))
    return str(doc.get("error") or "(no message)"), details


def _retry_after(v: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date."""
    if not v:
        return None
    v = v.strip()
    if v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _close_at_exit(c: Client) -> None:
    try:
        c.close(timeout=5.0)
    except FeedbackLoopError as e:
        log.error("feedbackloop: at exit: %s", e)

