"""Exceptions of the client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from ._types import Event


class FeedbackLoopError(Exception):
    """Base class of every error this package raises."""


class InvalidEventError(FeedbackLoopError, ValueError):
    """An argument cannot become a valid event; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class QueueFullError(FeedbackLoopError):
    """The send queue holds ``queue_size`` events; the event was not queued."""


class ClosedError(FeedbackLoopError):
    """The client was closed; it queues nothing more."""


@dataclass(frozen=True)
class FieldError:
    """One entry of feedbackd's 400 ``details``: the event's index in the
    request and the field at fault."""

    index: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"event {self.index}: {self.field}: {self.message}"
        return f"event {self.index}: {self.message}"


class RejectedError(FeedbackLoopError):
    """feedbackd refused events for good (HTTP 400, 401, 403, 413, ...).

    ``events`` are the refused events, ``details`` feedbackd's field errors
    (their ``index`` is the position in the request that carried them, and
    ``events[i]`` is the event that ``details`` entries with that position
    describe when the request held only refused events).
    """

    def __init__(
        self,
        status: int,
        message: str,
        events: Sequence[Event],
        details: Sequence[FieldError] = (),
    ) -> None:
        self.status = status
        self.message = message
        self.events: Tuple[Event, ...] = tuple(events)
        self.details: Tuple[FieldError, ...] = tuple(details)
        # feedbackd's message repeats the first detail; the details say it all.
        why = "; ".join(str(d) for d in self.details) if self.details else message
        super().__init__(f"feedbackd refused {len(self.events)} event(s) with HTTP {status}: {why}")


class UndeliveredError(FeedbackLoopError):
    """Events could not be delivered: retries ran out or close() timed out.

    ``cause`` is the last network error or HTTP status seen, if any.
    """

    def __init__(self, events: Sequence[Event], reason: str, status: Optional[int] = None) -> None:
        self.events: Tuple[Event, ...] = tuple(events)
        self.reason = reason
        self.status = status
        super().__init__(f"{len(self.events)} event(s) not delivered: {reason}")


class DeliveryError(FeedbackLoopError):
    """Raised by flush() and close() when events sent since the previous
    flush were refused or could not be delivered; ``errors`` holds one
    RejectedError or UndeliveredError per failure, oldest first."""

    def __init__(self, errors: Sequence[FeedbackLoopError]) -> None:
        self.errors: Tuple[FeedbackLoopError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))
