"""The event as feedbackd reads it (docs/python.md, "Events").

These TypedDicts mirror the JSON Schema generated from the Go event model;
the tests compare the two so that a field added there fails here until the
client knows it.
"""

from __future__ import annotations

from typing import Dict, List, TypedDict, Union

ParamValue = Union[int, float, str]


class Model(TypedDict, total=False):
    id: str
    version: str
    released_at: str
    effective_version: str


class User(TypedDict, total=False):
    id: str
    role: str
    geo: str


class Context(TypedDict, total=False):
    system_prompt: str
    input: str
    output: str
    params: Dict[str, ParamValue]
    prompt_version: str


class Edit(TypedDict):
    original_chars: int
    edited_chars: int
    similarity: float


class Ticket(TypedDict, total=False):
    system: str
    key: str
    url: str


class Fixes(TypedDict, total=False):
    tags: List[str]
    feedback_ids: List[str]
    cluster_ids: List[str]


class Event(TypedDict, total=False):
    schema: str
    kind: str
    feedback_id: str
    correlation_id: str
    timestamp: str
    model: Model
    sentiment: str
    score: float
    reason: str
    tags: List[str]
    severity: str
    comment: str
    source: str
    user: User
    attributes: Dict[str, str]
    context: Context
    edit: Edit
    verdict: str
    reviewer: str
    corrected_output: str
    ticket: Ticket
    resolution_id: str
    fixes: Fixes
    channel: str
