"""The snapshot of one model call: a context manager and a decorator."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Mapping, Optional, TypeVar, Union

from ._errors import QueueFullError
from ._events import TimeLike
from ._ids import correlation_id as _correlation_id

if TYPE_CHECKING:
    from ._client import Client

log = logging.getLogger("feedbackloop")

F = TypeVar("F", bound=Callable[..., Any])

_current: "contextvars.ContextVar[Optional[Call]]" = contextvars.ContextVar("feedbackloop_call", default=None)


class Call:
    """One model call being recorded. Set ``output`` (and anything else
    learnt during the call) before the block ends; hand ``correlation_id``
    to the UI so that the feedback widget sends it back."""

    def __init__(
        self,
        correlation_id: str,
        *,
        model_id: Optional[str],
        model_version: Optional[str],
        released_at: Optional[TimeLike],
        system_prompt: Optional[str],
        input: Optional[str],
        output: Optional[str],
        params: Optional[Mapping[str, Union[int, float, str]]],
        prompt_version: Optional[str],
        user_id: Optional[str],
        attributes: Optional[Mapping[str, str]],
    ) -> None:
        self.correlation_id = correlation_id
        self.model_id = model_id
        self.model_version = model_version
        self.released_at = released_at
        self.system_prompt = system_prompt
        self.input = input
        self.output = output
        self.params: Dict[str, Union[int, float, str]] = dict(params or {})
        self.prompt_version = prompt_version
        self.user_id = user_id
        self.attributes: Dict[str, str] = dict(attributes or {})

    def __repr__(self) -> str:
        return f"Call(correlation_id={self.correlation_id!r}, model={self.model_id!r}@{self.model_version!r})"


def current_call() -> Optional[Call]:
    """The Call of the innermost record() block or recorded() function."""
    return _current.get()


@contextlib.contextmanager
def record(
    client: "Client",
    *,
    input: Optional[str] = None,
    system_prompt: Optional[str] = None,
    params: Optional[Mapping[str, Union[int, float, str]]] = None,
    prompt_version: Optional[str] = None,
    output: Optional[str] = None,
    model_id: Optional[str] = None,
    model_version: Optional[str] = None,
    released_at: Optional[TimeLike] = None,
    correlation_id: Optional[str] = None,
    user_id: Optional[str] = None,
    attributes: Optional[Mapping[str, str]] = None,
) -> Iterator[Call]:
    """Records the interaction snapshot of the model call made inside the
    block and yields its Call, whose correlation_id is the current
    OpenTelemetry trace id (when opentelemetry-api is installed and a span
    is active) or a new W3C-style id.

    The snapshot is queued when the block ends normally. A block that raises
    records nothing (there is no answer to give feedback on) and the
    exception propagates. The model id and version default to the client's.
    Argument errors raise InvalidEventError at the end of the block; a full
    queue is logged and counted (client.stats.queue_full) but never fails
    the call the block wraps.
    """
    call = Call(
        correlation_id or _correlation_id(),
        model_id=model_id,
        model_version=model_version,
        released_at=released_at,
        system_prompt=system_prompt,
        input=input,
        output=output,
        params=params,
        prompt_version=prompt_version,
        user_id=user_id,
        attributes=attributes,
    )
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)
    _submit(client, call)


def _submit(client: "Client", call: Call) -> None:
    try:
        client.interaction(
            call.correlation_id,
            model_id=call.model_id,
            model_version=call.model_version,
            released_at=call.released_at,
            system_prompt=call.system_prompt,
            input=call.input,
            output=call.output,
            params=call.params or None,
            prompt_version=call.prompt_version,
            user_id=call.user_id,
            attributes=call.attributes or None,
        )
    except QueueFullError as e:
        log.warning("feedbackloop: snapshot %s not recorded: %s", call.correlation_id, e)


def recorded(
    client: "Client",
    *,
    input_arg: Optional[str] = None,
    output: Optional[Callable[[Any], Optional[str]]] = None,
    **record_kwargs: Any,
) -> Callable[[F], F]:
    """A decorator: each call of the function is one record() block.

    The snapshot's input is the argument named input_arg (default: the first
    parameter other than self and cls), its output the return value when it
    is a string, or output(return value). Inside, current_call() gives the
    Call, e.g. to put its correlation_id into the response for the UI. The
    function's return value is unchanged. Coroutine functions are supported.
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        name = input_arg
        if name is None:
            for p in sig.parameters.values():
                if p.name not in ("self", "cls"):
                    name = p.name
                    break
        elif name not in sig.parameters:
            raise TypeError(f"recorded: {fn.__qualname__} has no parameter {name!r}")

        def arg(args: Any, kwargs: Any) -> Optional[str]:
            if name is None:
                return None
            bound = sig.bind_partial(*args, **kwargs)
            v = bound.arguments.get(name)
            return v if isinstance(v, str) else None

        def out(result: Any) -> Optional[str]:
            if output is not None:
                return output(result)
            return result if isinstance(result, str) else None

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with record(client, input=arg(args, kwargs), **record_kwargs) as call:
                    result = await fn(*args, **kwargs)
                    if call.output is None:
                        call.output = out(result)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record(client, input=arg(args, kwargs), **record_kwargs) as call:
                result = fn(*args, **kwargs)
                if call.output is None:
                    call.output = out(result)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
