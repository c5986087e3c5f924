"""Feedback Loop client: send user feedback and model interaction snapshots
to feedbackd. See docs/python.md.

    import feedbackloop

    client = feedbackloop.Client("http://127.0.0.1:8787", token="…",
                                 model_id="support-bot", model_version="2026-11-01.3")
    with client.record(system_prompt=SYSTEM, input=question, params={"temperature": 0.2}) as call:
        call.output = llm(question)
    # hand call.correlation_id to the UI; later, from the widget or here:
    client.feedback(call.correlation_id, "negative", reason="hallucination")
"""

from __future__ import annotations

from ._client import VERSION, Client, Retry, Stats
from ._errors import (
    ClosedError,
    DeliveryError,
    FeedbackLoopError,
    FieldError,
    InvalidEventError,
    QueueFullError,
    RejectedError,
    UndeliveredError,
)
from ._events import SCHEMA, format_time
from ._ids import correlation_id, current_trace_id, new_correlation_id, new_feedback_id
from ._record import Call, current_call
from ._types import Context, Edit, Event, Fixes, Model, Ticket, User

__version__ = VERSION

__all__ = [
    "Call",
    "Client",
    "ClosedError",
    "Context",
    "DeliveryError",
    "Edit",
    "Event",
    "FeedbackLoopError",
    "FieldError",
    "Fixes",
    "InvalidEventError",
    "Model",
    "QueueFullError",
    "RejectedError",
    "Retry",
    "SCHEMA",
    "Stats",
    "Ticket",
    "UndeliveredError",
    "User",
    "correlation_id",
    "current_call",
    "current_trace_id",
    "format_time",
    "new_correlation_id",
    "new_feedback_id",
]
