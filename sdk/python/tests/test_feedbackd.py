"""The client against the real feedbackd binary: what reaches feedbackd's
Elasticsearch sink, field for field."""

from __future__ import annotations

import hashlib
import json
import re
import unittest
from typing import Any, Dict

import feedbackloop
from feedbackloop import Client, DeliveryError, FieldError, RejectedError

from support import Feedbackd

MODEL: Dict[str, Any] = {"model_id": "support-bot", "model_version": "2026-11-01.3"}


def effective_version(model_id: str, system_prompt: str, params: Dict[str, Any]) -> str:
    """docs/python.md: the collector's hash of (system prompt, params, model id)."""
    text = json.dumps([system_prompt, params, model_id], sort_keys=True, separators=(",", ":"))
    return "ev-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class AgainstFeedbackd(unittest.TestCase):
    fd: Feedbackd

    @classmethod
    def setUpClass(cls) -> None:
        cls.fd = Feedbackd()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.fd.stop()

    def setUp(self) -> None:
        self.before = self.fd.ingest_requests()

    def tearDown(self) -> None:
        self.assertEqual(self.fd.es.refused, [], "feedbackd sent the Elasticsearch stand-in something it refused")

    def client(self, token: str = "server-token", **kw: Any) -> Client:
        c = Client(self.fd.base, token, **MODEL, **kw)
        self.addCleanup(self._close_quietly, c)
        return c

    @staticmethod
    def _close_quietly(c: Client) -> None:
        try:
            c.close()
        except DeliveryError:
            pass

    def requests_since_setup(self) -> Dict[str, int]:
        now = self.fd.ingest_requests()
        return {k: v - self.before.get(k, 0) for k, v in now.items() if v - self.before.get(k, 0)}

    def docs(self, key: str, value: str, n: int) -> list:
        got = self.fd.es.wait_for(lambda d: d.get(key) == value, n)
        self.assertEqual(len(got), n, f"documents with {key}={value} in Elasticsearch:\n{got}\nfeedbackd log:\n{self.fd.output()}")
        return got

    def test_interaction_and_feedback_arrive_with_exact_fields(self) -> None:
        c = self.client()
        cid = feedbackloop.new_correlation_id()
        params = {"temperature": 0.2, "top_p": 1.0, "max_tokens": 512}
        got_cid = c.interaction(
            cid,
            released_at="2026-11-01T00:00:00Z",
            system_prompt="You are a tax assistant.",
            input="Can I deduct my home office?",
            output="Yes, always, in full.",
            params=params,
            prompt_version="tax-v7",
            user_id="u-42",
            attributes={"domain": "tax"},
            timestamp="2026-11-20T06:00:00.000000001Z",
        )
        fid = c.feedback(
            cid,
            "negative",
            reason="hallucination",
            tags=["factually_incorrect"],
            score=-1,
            comment="Not in full, and not always.",
            source="modal",
            user_id="u-42",
            user_role="customer",
            user_geo="DE",
            attributes={"domain": "tax", "channel": "web"},
            edit={"original_chars": 21, "edited_chars": 40, "similarity": 0.25},
            timestamp="2026-11-20T06:00:05.000000000Z",
        )
        c.flush()
        self.assertEqual(got_cid, cid)
        self.assertRegex(fid, r"^[0-9A-HJKMNP-TV-Z]{26}$")
        docs = sorted(self.docs("correlation_id", cid, 2), key=lambda d: d["kind"])
        self.assertEqual(
            docs,
            [
                {
                    "schema": "feedback/v1",
                    "kind": "feedback",
                    "feedback_id": fid,
                    "correlation_id": cid,
                    "timestamp": "2026-11-20T06:00:05.000000000Z",
                    # The client sends the interaction first and waits for its
                    # 202, so feedbackd's enrichment (docs/enrichment.md)
                    # copies these from it.
                    "model": {
                        "id": "support-bot",
                        "version": "2026-11-01.3",
                        "released_at": "2026-11-01T00:00:00Z",
                        "effective_version": effective_version("support-bot", "You are a tax assistant.", params),
                    },
                    "context": {"params": params, "prompt_version": "tax-v7"},
                    "sentiment": "negative",
                    "score": -1,
                    "reason": "hallucination",
                    "tags": ["hallucination", "factually_incorrect"],
                    "severity": "warning",
                    "comment": "Not in full, and not always.",
                    "source": "modal",
                    "user": {"id": "u-42", "role": "customer", "geo": "DE"},
                    "attributes": {"domain": "tax", "channel": "web"},
                    "edit": {"original_chars": 21, "edited_chars": 40, "similarity": 0.25},
                },
                {
                    "schema": "feedback/v1",
                    "kind": "interaction",
                    "correlation_id": cid,
                    "timestamp": "2026-11-20T06:00:00.000000001Z",
                    "model": {
                        "id": "support-bot",
                        "version": "2026-11-01.3",
                        "released_at": "2026-11-01T00:00:00Z",
                        "effective_version": effective_version("support-bot", "You are a tax assistant.", params),
                    },
                    "user": {"id": "u-42"},
                    "attributes": {"domain": "tax"},
                    "context": {
                        "system_prompt": "You are a tax assistant.",
                        "input": "Can I deduct my home office?",
                        "output": "Yes, always, in full.",
                        "params": params,
                        "prompt_version": "tax-v7",
                    },
                },
            ],
        )
        self.assertEqual(self.requests_since_setup(), {"202": 2})

    def test_client_stamps_time_and_id_when_absent(self) -> None:
        c = self.client()
        cid = feedbackloop.new_correlation_id()
        fid = c.feedback(cid, "positive")
        c.flush()
        (doc,) = self.docs("correlation_id", cid, 1)
        self.assertRegex(doc.pop("timestamp"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.assertEqual(
            doc,
            {
                "schema": "feedback/v1",
                "kind": "feedback",
                "feedback_id": fid,
                "correlation_id": cid,
                "model": {"id": "support-bot", "version": "2026-11-01.3"},
                "sentiment": "positive",
                "tags": [],
                "severity": "info",
                "source": "api",
            },
        )

    def test_batches_of_batch_size(self) -> None:
        # max_delay is far away: only the batch size and flush() send.
        c = self.client(max_delay=600)
        cid = feedbackloop.new_correlation_id()
        ids = [c.feedback(cid, "neutral") for _ in range(250)]
        c.flush()
        docs = self.docs("correlation_id", cid, 250)
        self.assertEqual(sorted(d["feedback_id"] for d in docs), sorted(ids))
        self.assertEqual(self.requests_since_setup(), {"202": 3})
        self.assertEqual((c.stats.requests, c.stats.delivered), (3, 250))

    def test_max_delay_sends_a_partial_batch_without_flush(self) -> None:
        c = self.client(max_delay=0.2)
        cid = feedbackloop.new_correlation_id()
        for _ in range(3):
            c.feedback(cid, "positive")
        self.docs("correlation_id", cid, 3)
        self.assertEqual(self.requests_since_setup(), {"202": 1})

    def test_refused_event_names_index_and_field_and_the_rest_is_delivered(self) -> None:
        c = self.client(max_delay=600)
        cid = feedbackloop.new_correlation_id()
        good1 = c.feedback(cid, "negative", reason="not_helpful")
        bad = c.feedback(cid, "negative", tags=["Not A Tag"])
        good2 = c.feedback(cid, "positive")
        with self.assertRaises(DeliveryError) as cm:
            c.flush()
        (err,) = cm.exception.errors
        assert isinstance(err, RejectedError)
        self.assertEqual(err.status, 400)
        self.assertEqual(
            err.details,
            (FieldError(1, "tags[0]", 'must be a taxonomy tag or a custom tag matching ^[a-z][a-z0-9_]{0,39}$, got "Not A Tag"'),),
        )
        self.assertEqual([e["feedback_id"] for e in err.events], [bad])
        self.assertIn("event 1: tags[0]: must be a taxonomy tag", str(cm.exception))
        docs = self.docs("correlation_id", cid, 2)
        self.assertEqual(sorted(d["feedback_id"] for d in docs), sorted([good1, good2]))
        self.assertEqual(self.requests_since_setup(), {"400": 1, "202": 1})
        self.assertEqual((c.stats.refused, c.stats.delivered), (1, 2))
        c.flush()  # reported once

    def test_wrong_token_is_not_retried(self) -> None:
        c = self.client(token="wrong")
        c.feedback(feedbackloop.new_correlation_id(), "positive")
        with self.assertRaises(DeliveryError) as cm:
            c.flush()
        (err,) = cm.exception.errors
        assert isinstance(err, RejectedError)
        self.assertEqual((err.status, err.message, len(err.events)), (401, "missing or invalid bearer token", 1))
        self.assertEqual(self.requests_since_setup(), {"401": 1})

    def test_close_delivers_everything_queued(self) -> None:
        c = Client(self.fd.base, "server-token", **MODEL, max_delay=600)
        cid_prefix = feedbackloop.new_correlation_id()[:20]
        cids = [c.interaction(f"{cid_prefix}{i:012x}", input=f"q{i}", output=f"a{i}") for i in range(150)]
        c.close()
        got = self.fd.es.wait_for(lambda d: d["correlation_id"].startswith(cid_prefix), 150)
        self.assertEqual(sorted(d["correlation_id"] for d in got), sorted(cids))
        self.assertEqual(self.requests_since_setup(), {"202": 2})
        with self.assertRaises(feedbackloop.ClosedError):
            c.feedback(cids[0], "positive")

    def test_record_sends_the_snapshot_under_its_correlation_id(self) -> None:
        c = self.client()
        with c.record(
            system_prompt="Answer in one sentence.",
            input="What is the VAT rate?",
            params={"temperature": 0, "model": "gpt-x"},
            prompt_version="p3",
            released_at="2026-11-01T00:00:00Z",
        ) as call:
            self.assertIs(feedbackloop.current_call(), call)
            call.output = "19 %."
        self.assertIsNone(feedbackloop.current_call())
        self.assertRegex(call.correlation_id, r"^[0-9a-f]{32}$")
        fid = c.feedback(call.correlation_id, "negative", reason="factually_incorrect")
        c.flush()
        docs = {d["kind"]: d for d in self.docs("correlation_id", call.correlation_id, 2)}
        inter = docs["interaction"]
        inter.pop("timestamp")
        params = {"temperature": 0, "model": "gpt-x"}
        self.assertEqual(
            inter,
            {
                "schema": "feedback/v1",
                "kind": "interaction",
                "correlation_id": call.correlation_id,
                "model": {
                    "id": "support-bot",
                    "version": "2026-11-01.3",
                    "released_at": "2026-11-01T00:00:00Z",
                    "effective_version": effective_version("support-bot", "Answer in one sentence.", params),
                },
                "context": {
                    "system_prompt": "Answer in one sentence.",
                    "input": "What is the VAT rate?",
                    "output": "19 %.",
                    "params": params,
                    "prompt_version": "p3",
                },
            },
        )
        self.assertEqual(docs["feedback"]["feedback_id"], fid)

    def test_recorded_decorator(self) -> None:
        c = self.client()
        handed: Dict[str, str] = {}

        @c.recorded(system_prompt="Be brief.", params={"top_p": 0.9})
        def answer(question: str, *, style: str = "plain") -> str:
            call = feedbackloop.current_call()
            assert call is not None
            handed["cid"] = call.correlation_id  # what a web handler puts in its response
            return question.upper()

        self.assertEqual(answer("why?"), "WHY?")
        c.flush()
        (doc,) = self.docs("correlation_id", handed["cid"], 1)
        self.assertEqual(
            doc["context"],
            {"system_prompt": "Be brief.", "input": "why?", "output": "WHY?", "params": {"top_p": 0.9}},
        )

    def test_record_block_that_raises_records_nothing(self) -> None:
        c = self.client()
        with self.assertRaises(ZeroDivisionError):
            with c.record(input="x") as call:
                1 / 0
        c.flush()
        self.assertEqual(c.stats.queued, 0)
        self.assertTrue(re.fullmatch(r"[0-9a-f]{32}", call.correlation_id))


if __name__ == "__main__":
    unittest.main()
