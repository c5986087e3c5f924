"""The client against the event JSON Schema generated from the Go event
model (schema/event.schema.json): a field added there without the client
fails here."""

from __future__ import annotations

import inspect
import json
import typing
import unittest
from typing import Any, Callable, Dict, List, Set, Tuple

import feedbackloop
from feedbackloop import Client, DeliveryError

from support import SCHEMA_PATH, IngestStandIn

SCHEMA = json.loads(SCHEMA_PATH.read_text())

# How each schema field is set through feedback() and interaction(). A
# field missing from both this table and NOT_OFFERED fails the test.
FEEDBACK_ARGS = {
    "feedback_id": "feedback_id",
    "correlation_id": "correlation_id",
    "timestamp": "timestamp",
    "model.id": "model_id",
    "model.version": "model_version",
    "model.released_at": "released_at",
    "sentiment": "sentiment",
    "score": "score",
    "reason": "reason",
    "tags": "tags",
    "severity": "severity",
    "comment": "comment",
    "source": "source",
    "user.id": "user_id",
    "user.role": "user_role",
    "user.geo": "user_geo",
    "attributes": "attributes",
    "edit.original_chars": "edit",
    "edit.edited_chars": "edit",
    "edit.similarity": "edit",
}
INTERACTION_ARGS = {
    "correlation_id": "correlation_id",
    "timestamp": "timestamp",
    "model.id": "model_id",
    "model.version": "model_version",
    "model.released_at": "released_at",
    "user.id": "user_id",
    "user.role": "user_role",
    "user.geo": "user_geo",
    "attributes": "attributes",
    "context.system_prompt": "system_prompt",
    "context.input": "input",
    "context.output": "output",
    "context.params": "params",
    "context.prompt_version": "prompt_version",
}
# Allowed by the schema on the kind, deliberately not an argument.
NOT_OFFERED = {
    "feedback": {
        # the snapshot is the interaction's; send() takes hand-built events
        "context.system_prompt", "context.input", "context.output", "context.params", "context.prompt_version",
        "model.effective_version",  # the collector computes it
    },
    "interaction": {"model.effective_version", "severity", "reason", "tags", "comment", "source", "feedback_id"},
}
ALWAYS_SET = {"schema", "kind"}


def leaves(props: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Schema leaf paths (objects with properties are walked, maps are
    leaves) and their schema."""
    out: Dict[str, Any] = {}
    for name, sub in props.items():
        path = prefix + name
        if isinstance(sub, dict) and "properties" in sub:
            out.update(leaves(sub["properties"], path + "."))
        else:
            out[path] = sub
    return out


def allowed_on(kind: str) -> Set[str]:
    """Leaf paths the schema allows on kind (its `then` sets the others false)."""
    banned: Set[str] = set()
    for rule in SCHEMA.get("allOf", []):
        if rule.get("if", {}).get("properties", {}).get("kind", {}).get("const") == kind:
            banned |= {k for k, v in rule["then"].get("properties", {}).items() if v is False}
    return {p for p in leaves(SCHEMA["properties"]) if p.split(".")[0] not in banned}


def typed_leaves(td: Any, prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, t in typing.get_type_hints(td).items():
        if isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__annotations__"):
            out.update(typed_leaves(t, prefix + name + "."))
        else:
            out[prefix + name] = t
    return out


JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_type(t: Any) -> Set[str]:
    origin = typing.get_origin(t)
    if origin is list:
        return {"array"}
    if origin is dict:
        return {"object"}
    if origin is typing.Union:
        return set().union(*(json_type(a) for a in typing.get_args(t)))
    return {JSON_TYPES[t]}


def schema_type(s: Dict[str, Any]) -> Set[str]:
    t = s.get("type")
    types = set(t) if isinstance(t, list) else {t}
    if "number" in types:
        types.add("integer")  # JSON Schema: an integer is a number
    return types


def value_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    return {str: "string", float: "number", list: "array", dict: "object"}[type(v)]


def paths_of(ev: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in ev.items():
        if isinstance(v, dict) and prefix + k not in ("attributes", "context.params"):
            out.update(paths_of(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


class AgainstTheSchema(unittest.TestCase):
    def test_event_type_has_exactly_the_schema_fields(self) -> None:
        schema = leaves(SCHEMA["properties"])
        typed = typed_leaves(feedbackloop.Event)
        self.assertEqual(sorted(typed), sorted(schema), "feedbackloop.Event differs from the schema's fields")
        for path, t in typed.items():
            with self.subTest(path=path):
                want = schema_type(schema[path])
                got = json_type(t)
                self.assertTrue(got <= want | {"integer"} and got & want, f"{path}: {t} is not {want}")

    def test_enums_match(self) -> None:
        props = SCHEMA["properties"]
        from feedbackloop import _events

        self.assertEqual(list(_events.SENTIMENTS), props["sentiment"]["enum"])
        self.assertEqual(list(_events.SEVERITIES), props["severity"]["enum"])
        self.assertEqual(list(_events.SOURCES), props["source"]["enum"])
        self.assertEqual(sorted(_events.ENDPOINTS), sorted(props["kind"]["enum"]))
        self.assertEqual(feedbackloop.SCHEMA, props["schema"]["const"])

    def test_every_field_of_feedback_and_interaction_is_an_argument(self) -> None:
        methods: List[Tuple[str, Callable[..., Any], Dict[str, str]]] = [
            ("feedback", Client.feedback, FEEDBACK_ARGS),
            ("interaction", Client.interaction, INTERACTION_ARGS),
        ]
        for kind, method, table in methods:
            with self.subTest(kind=kind):
                allowed = allowed_on(kind) - ALWAYS_SET
                self.assertEqual(
                    sorted(allowed - NOT_OFFERED[kind]),
                    sorted(table),
                    f"schema fields of {kind} not mapped to an argument of Client.{kind}() (or mapped but gone)",
                )
                params = inspect.signature(method).parameters
                for path, arg in table.items():
                    self.assertIn(arg, params, f"{path}: Client.{kind}() has no argument {arg}")

    def test_events_built_from_every_argument_carry_every_field(self) -> None:
        s = IngestStandIn("t", [])
        self.addCleanup(s.close)
        c = Client(s.url, "t", max_delay=600)
        common: Dict[str, Any] = dict(
            model_id="m", model_version="1", released_at="2026-11-01T00:00:00Z",
            user_id="u", user_role="r", user_geo="DE", attributes={"domain": "tax"},
            timestamp="2026-11-20T06:00:00.000000000Z",
        )
        c.feedback(
            "c", "negative", feedback_id="f", score=1.5, reason="bias", tags=["other"], severity="warning",
            comment="x", source="survey", edit={"original_chars": 1, "edited_chars": 2, "similarity": 0.5}, **common,
        )
        c.interaction(
            "c", system_prompt="s", input="i", output="o", params={"t": 0.1, "m": "x"}, prompt_version="p", **common,
        )
        try:
            c.close()
        except DeliveryError as e:  # pragma: no cover - the stand-in accepts all
            self.fail(str(e))
        events: List[Dict[str, Any]] = [json.loads(b)[0] for _, b in s.requests]
        schema = leaves(SCHEMA["properties"])
        for ev, table in zip(events, (FEEDBACK_ARGS, INTERACTION_ARGS)):
            got = paths_of(ev)
            with self.subTest(kind=ev["kind"]):
                self.assertEqual(sorted(got), sorted(set(table) | ALWAYS_SET))
                for path, v in got.items():
                    self.assertIn(value_type(v), schema_type(schema[path]), f"{path} = {v!r}")


if __name__ == "__main__":
    unittest.main()
