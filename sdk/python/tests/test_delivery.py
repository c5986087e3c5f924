"""Retries, refusals and the full queue, against a scripted stand-in of
feedbackd's ingest API (feedbackd cannot be made to answer 429 or 503, or
drop a connection, on demand)."""

from __future__ import annotations

import json
import sys
import threading
import types
import unittest
from typing import Any, Dict, List

import feedbackloop
from feedbackloop import (
    Client,
    DeliveryError,
    FieldError,
    InvalidEventError,
    QueueFullError,
    RejectedError,
    Retry,
    UndeliveredError,
)
from feedbackloop import _ids

from support import IngestStandIn

TOKEN = "t0ken"
MODEL: Dict[str, Any] = {"model_id": "m", "model_version": "1"}


class WithStandIn(unittest.TestCase):
    def standin(self, *script: Any) -> IngestStandIn:
        s = IngestStandIn(TOKEN, list(script))
        self.addCleanup(s.close)
        self.addCleanup(lambda: self.assertEqual(s.refused, [], "the client sent what feedbackd would refuse"))
        return s

    def client(self, s: IngestStandIn, **kw: Any) -> "tuple[Client, List[float]]":
        sleeps: List[float] = []
        kw.setdefault("max_delay", 600)
        c = Client(s.url, TOKEN, **MODEL, _sleep=sleeps.append, _random=lambda: 0.5, **kw)
        self.addCleanup(self._close, c)
        return c, sleeps

    @staticmethod
    def _close(c: Client) -> None:
        try:
            c.close(timeout=5)
        except DeliveryError:
            pass


class Retries(WithStandIn):
    def test_429_503_and_a_dropped_connection_are_retried_honouring_retry_after(self) -> None:
        s = self.standin(
            (429, {"Retry-After": "7"}, {"error": "spool is full: the sinks are behind; retry later"}),
            (503, {"Retry-After": "3"}, {"error": "shutting down; retry later"}),
            "drop",
            (502, {}, {"error": "bad gateway"}),
        )
        c, sleeps = self.client(s)
        fid = c.feedback("c1", "negative", reason="latency")
        c.flush()
        # Retry-After as sent, then backoff with jitter 0.5: retry n waits
        # 3/4 of min(30, 0.5 * 2**n).
        self.assertEqual(sleeps, [7.0, 3.0, 0.75 * 0.5 * 4, 0.75 * 0.5 * 8])
        reqs = s.requests
        self.assertEqual(len(reqs), 5)
        self.assertEqual({r for r in reqs}, {reqs[0]}, "every attempt sends the same bytes")
        self.assertEqual(reqs[0][0], "/v1/feedback")
        self.assertEqual([e["feedback_id"] for e in json.loads(reqs[0][1])], [fid])
        self.assertEqual((c.stats.retries, c.stats.delivered, c.stats.requests), (4, 1, 5))

    def test_retry_after_as_http_date(self) -> None:
        s = self.standin((503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"error": "x"}))
        c, sleeps = self.client(s)
        c.feedback("c1", "positive")
        c.flush()
        self.assertEqual(sleeps, [0.0])  # a date in the past: retry at once

    def test_retry_after_is_capped(self) -> None:
        s = self.standin((429, {"Retry-After": "86400"}, {"error": "x"}))
        c, sleeps = self.client(s, retry=Retry(max_retry_after=60))
        c.feedback("c1", "positive")
        c.flush()
        self.assertEqual(sleeps, [60.0])

    def test_gives_up_after_max_attempts(self) -> None:
        s = self.standin(*[(503, {}, {"error": "spool not writable"})] * 3)
        c, sleeps = self.client(s, retry=Retry(max_attempts=3))
        c.feedback("c1", "positive")
        with self.assertRaises(DeliveryError) as cm:
            c.flush()
        (err,) = cm.exception.errors
        assert isinstance(err, UndeliveredError)
        self.assertEqual((err.status, len(err.events)), (503, 1))
        self.assertIn("gave up after 3 attempts", str(err))
        self.assertEqual(sleeps, [0.375, 0.75])
        self.assertEqual(len(s.requests), 3)

    def test_close_stops_retrying_at_its_timeout(self) -> None:
        s = self.standin((503, {"Retry-After": "120"}, {"error": "shutting down; retry later"}))
        c, sleeps = self.client(s)
        c.feedback("c1", "positive")
        with self.assertRaises(DeliveryError) as cm:
            c.close(timeout=5)
        (err,) = cm.exception.errors
        assert isinstance(err, UndeliveredError)
        self.assertIn("close() timeout", str(err))
        self.assertEqual((sleeps, len(s.requests)), ([], 1))


class Refusals(WithStandIn):
    def test_permanent_answers_are_not_retried(self) -> None:
        for status, msg in [
            (400, "invalid request: body is not JSON"),
            (401, "missing or invalid bearer token"),
            (403, "browser tokens may only write feedback (POST /v1/feedback)"),
            (413, "request body is over the limit of 4 MiB"),
        ]:
            with self.subTest(status=status):
                s = self.standin((status, {"Retry-After": "1"}, {"error": msg}))
                errors: List[Any] = []
                c, sleeps = self.client(s, on_error=errors.append)
                c.interaction("c1", output="o")
                with self.assertRaises(DeliveryError) as cm:
                    c.flush()
                (err,) = cm.exception.errors
                assert isinstance(err, RejectedError)
                self.assertEqual((err.status, err.message, err.details), (status, msg, ()))
                self.assertEqual([e["correlation_id"] for e in err.events], ["c1"])
                self.assertEqual((len(s.requests), sleeps), (1, []))
                self.assertEqual(errors, [err])

    def test_400_details_are_mapped_to_the_events_and_the_rest_resent(self) -> None:
        details = [
            {"index": 0, "field": "model.released_at", "message": "must be an RFC 3339 timestamp"},
            {"index": 2, "field": "tags[1]", "message": 'duplicate tag "bias"'},
            {"index": 2, "field": "comment", "message": "too large: 5000 bytes, the limit is 4 KiB"},
        ]
        s = self.standin((400, {}, {"error": "invalid request: event 0: ...", "details": details}))
        c, _ = self.client(s)
        ids = [c.feedback(f"c{i}", "negative") for i in range(4)]
        with self.assertRaises(DeliveryError) as cm:
            c.flush()
        e0, e2 = cm.exception.errors
        assert isinstance(e0, RejectedError) and isinstance(e2, RejectedError)
        self.assertEqual([e["feedback_id"] for e in e0.events], [ids[0]])
        self.assertEqual(e0.details, (FieldError(0, "model.released_at", "must be an RFC 3339 timestamp"),))
        self.assertEqual([e["feedback_id"] for e in e2.events], [ids[2]])
        self.assertEqual([d.field for d in e2.details], ["tags[1]", "comment"])
        self.assertEqual(
            str(e2),
            'feedbackd refused 1 event(s) with HTTP 400: event 2: tags[1]: duplicate tag "bias"; '
            "event 2: comment: too large: 5000 bytes, the limit is 4 KiB",
        )
        self.assertEqual(len(s.requests), 2)
        self.assertEqual([e["feedback_id"] for e in json.loads(s.requests[1][1])], [ids[1], ids[3]])

    def test_413_without_details_splits_the_batch(self) -> None:
        s = self.standin((413, {}, {"error": "request body is over the limit of 4 MiB"}))
        c, _ = self.client(s)
        ids = [c.feedback("c", "positive") for _ in range(3)]
        c.flush()
        sent = [[e["feedback_id"] for e in json.loads(b)] for _, b in s.requests]
        self.assertEqual(sent, [ids, ids[:1], ids[1:]])
        self.assertEqual(c.stats.delivered, 3)


class Batching(WithStandIn):
    def test_each_kind_goes_to_its_endpoint(self) -> None:
        s = self.standin()
        c, _ = self.client(s)
        c.interaction("c1", output="a")
        c.feedback("c1", "positive")
        c.interaction("c2", output="b")
        c.flush()
        self.assertEqual(
            [(p, [e["correlation_id"] for e in json.loads(b)]) for p, b in s.requests],
            [("/v1/interactions", ["c1", "c2"]), ("/v1/feedback", ["c1"])],
        )

    def test_full_queue_refuses_new_events_and_keeps_the_queued_ones(self) -> None:
        s = self.standin()
        s.hold = threading.Event()
        c, _ = self.client(s, batch_size=1, queue_size=2)
        first = c.feedback("c", "positive")
        s.wait_requests(1)  # the sender is busy with the first event
        queued = [c.feedback("c", "positive"), c.feedback("c", "positive")]
        with self.assertRaises(QueueFullError):
            c.feedback("c", "negative")
        self.assertEqual(c.stats.queue_full, 1)
        s.hold.set()
        c.close()
        sent = [json.loads(b)[0]["feedback_id"] for _, b in s.requests]
        self.assertEqual(sent, [first] + queued)


class Arguments(unittest.TestCase):
    def setUp(self) -> None:
        self.c = Client("http://127.0.0.1:9", "t", **MODEL)
        self.addCleanup(self.c.close)

    def field_of(self, fn: Any, *args: Any, **kw: Any) -> str:
        with self.assertRaises(InvalidEventError) as cm:
            fn(*args, **kw)
        return cm.exception.field

    def test_errors_name_the_field(self) -> None:
        c = self.c
        self.assertEqual(self.field_of(c.feedback, "c", "bad"), "sentiment")
        self.assertEqual(self.field_of(c.feedback, "", "positive"), "correlation_id")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", score=True), "score")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", score=float("nan")), "score")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", tags="hallucination"), "tags")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", tags=["ok", 3]), "tags[1]")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", attributes={"k": 1}), "attributes.k")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", edit={"original_chars": 1}), "edit.edited_chars")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", model_id=""), "model.id")
        self.assertEqual(self.field_of(c.interaction, "c", params={"t": [1]}), "context.params.t")
        self.assertEqual(self.field_of(c.interaction, "c", params={"t": None}), "context.params.t")
        self.assertEqual(self.field_of(c.interaction, "c", released_at=20261101), "model.released_at")
        self.assertEqual(self.field_of(c.interaction, "c", output="x" * (256 << 10)), "event")
        self.assertEqual(self.field_of(c.send, {"kind": "feedbak"}), "kind")
        self.assertEqual(self.c.stats.queued, 0, "nothing half-queued")

    def test_default_model_is_required(self) -> None:
        c = Client("http://127.0.0.1:9")
        self.addCleanup(c.close)
        self.assertEqual(self.field_of(c.feedback, "c", "positive"), "model.id")
        self.assertEqual(self.field_of(c.feedback, "c", "positive", model_id="m"), "model.version")

    def test_bad_endpoint(self) -> None:
        with self.assertRaises(ValueError):
            Client("127.0.0.1:8787")


class CorrelationIds(unittest.TestCase):
    def tearDown(self) -> None:
        for name in ("opentelemetry", "opentelemetry.trace"):
            sys.modules.pop(name, None)
        _ids._otel_checked = False

    def install_otel(self, trace_id: int, valid: bool) -> None:
        """A stand-in of the opentelemetry-api surface the client uses
        (trace.get_current_span().get_span_context().trace_id/is_valid);
        the real package is not installable where these tests run."""
        ctx = types.SimpleNamespace(trace_id=trace_id, is_valid=valid)
        span = types.SimpleNamespace(get_span_context=lambda: ctx)
        trace = types.ModuleType("opentelemetry.trace")
        trace.get_current_span = lambda: span  # type: ignore[attr-defined]
        pkg = types.ModuleType("opentelemetry")
        pkg.trace = trace  # type: ignore[attr-defined]
        sys.modules["opentelemetry"], sys.modules["opentelemetry.trace"] = pkg, trace
        _ids._otel_checked = False

    def test_trace_id_of_the_current_span(self) -> None:
        self.install_otel(0x0AF7651916CD43DD8448EB211C80319C, True)
        self.assertEqual(feedbackloop.correlation_id(), "0af7651916cd43dd8448eb211c80319c")
        s = IngestStandIn(TOKEN, [])
        self.addCleanup(s.close)
        c = Client(s.url, TOKEN, **MODEL)
        with c.record(input="q") as call:
            pass
        c.close()
        self.assertEqual(call.correlation_id, "0af7651916cd43dd8448eb211c80319c")
        ((_, body),) = s.requests
        self.assertEqual([e["correlation_id"] for e in json.loads(body)], [call.correlation_id])

    def test_new_id_without_a_valid_span(self) -> None:
        self.install_otel(0, False)
        a, b = feedbackloop.correlation_id(), feedbackloop.correlation_id()
        self.assertRegex(a, r"^[0-9a-f]{32}$")
        self.assertNotEqual(a, b)

    def test_new_id_without_opentelemetry(self) -> None:
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # makes the import fail
        _ids._otel_checked = False
        self.assertIsNone(feedbackloop.current_trace_id())
        self.assertRegex(feedbackloop.correlation_id(), r"^[0-9a-f]{32}$")

    def test_feedback_ids_are_ulids_in_time_order(self) -> None:
        a = feedbackloop.new_feedback_id(1_700_000_000_000_000_000)
        b = feedbackloop.new_feedback_id(1_700_000_000_001_000_000)
        self.assertRegex(a, r"^[0-9A-HJKMNP-TV-Z]{26}$")
        self.assertEqual(a[:10], "01HF7YAT00")  # 1700000000000 ms in Crockford base32
        self.assertLess(a, b)


if __name__ == "__main__":
    unittest.main()
