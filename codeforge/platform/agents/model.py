"""The agents' model client: chat completions over the `openai` package against any
OpenAI-compatible endpoint, always streamed, with tool calls assembled from their deltas,
retries with backoff on 429, 5xx, connection errors and cut-off streams, a timeout between
chunks, cancellation between chunks, and the spending caps checked before each call.

openai's own retries are off (max_retries=0): its loop cannot tell a cut-off stream from a
finished one, cannot be cancelled, and sleeps for real, which tests must not."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import openai

from codeforge.catalog.errors import BadInput, ExternalFailure, scrub_secrets

from .endpoint import CONFIGURE_COMMAND, Endpoint
from .meter import BudgetExceeded, Meter
from .tokens import count_messages, count_tokens, count_tools

__all__ = [
    "BudgetExceeded",
    "ModelCancelled",
    "ModelClient",
    "ModelFailure",
    "ModelNotConfigured",
    "ModelTurn",
    "ToolCall",
]

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 120.0  # an endpoint asking for longer is treated as down for now
SLEEP_SLICE_S = 0.5  # a wait is cut in slices so that a cancel does not wait it out
POLL_S = 0.1  # how often cancelled() is asked while the endpoint sends nothing
_NO_KEY = "not-needed"  # local servers take no key; the openai client insists on one


class ModelNotConfigured(BadInput):
    """No endpoint: base URL or model empty (or the base URL not http(s))."""


class ModelFailure(ExternalFailure):
    """The endpoint failed, after the retries when the failure was worth retrying."""

    def __init__(self, detail: str, *, fix: str = "", status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(detail, fix=fix)
        self.status_code = status_code
        self.attempts = attempts


class ModelCancelled(Exception):
    """`cancelled()` turned true during a call."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | None
    raw: str
    error: str = ""  # why `arguments` is None: the model sent malformed JSON (the loop tells it)


@dataclass
class ModelTurn:
    text: str
    tool_calls: list[ToolCall]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int = 1  # 1 + the retries this turn took
    usage_reported: bool = field(default=False)  # False: the token counts are offline estimates


class _Retry(Exception):
    """One attempt failed in a way worth another (429, 5xx, connection, cut-off, timeout)."""

    def __init__(
        self, reason: str, *, status_code: int | None = None, retry_after: float | None = None, fix: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.fix = fix


def _retry_after(headers: Any) -> float | None:
    """Seconds the endpoint asks to wait: Retry-After-Ms, Retry-After in seconds or as a date."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


class _Assembler:
    """Builds a turn from stream chunks: text deltas, tool-call fragments keyed by index."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = ""
        self.usage: tuple[int, int] | None = None
        self.chunks = 0

    def add(self, chunk: Any, on_text: Callable[[str], None]) -> None:
        self.chunks += 1
        if getattr(chunk, "usage", None) is not None:
            self.usage = (int(chunk.usage.prompt_tokens or 0), int(chunk.usage.completion_tokens or 0))
        for choice in chunk.choices or []:
            if choice.index not in (0, None):
                continue  # n=1 is asked; a server sending more choices gets its first one used
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    self.text.append(delta.content)
                    on_text(delta.content)
                for tc in delta.tool_calls or []:
                    # Servers that omit the index send one call per chunk group: the last one.
                    index = tc.index if tc.index is not None else max(self.calls, default=0)
                    call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": []})
                    if tc.id and not call["id"]:
                        call["id"] = tc.id
                    if tc.function is not None:
                        if tc.function.name and not call["name"]:
                            call["name"] = tc.function.name
                        if tc.function.arguments:
                            call["arguments"].append(tc.function.arguments)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def tool_calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self.calls):
            call = self.calls[index]
            raw = "".join(call["arguments"])
            out.append(_parse_call(call["id"] or f"call_{index}", call["name"], raw))
        return out


def _parse_call(call_id: str, name: str, raw: str) -> ToolCall:
    if not name:
        return ToolCall(call_id, name, None, raw, "the tool call has no function name: call a tool by its name")
    if not raw.strip():
        return ToolCall(call_id, name, {}, raw)  # a tool without parameters
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolCall(
            call_id,
            name,
            None,
            raw,
            f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "call the tool again with its arguments as one JSON object",
        )
    if not isinstance(args, dict):
        return ToolCall(
            call_id,
            name,
            None,
            raw,
            f"the arguments are a JSON {type(args).__name__}, not an object: "
            "call the tool again with its arguments as one JSON object",
        )
    return ToolCall(call_id, name, args, raw)


class ModelClient:
    def __init__(self, endpoint: Endpoint, meter: Meter, *, sleep: Callable[[float], None] = time.sleep) -> None:
        missing = [
            name for name, value in (("base_url", endpoint.base_url), ("model", endpoint.model)) if not value.strip()
        ]
        if missing:
            raise ModelNotConfigured(
                f"no model endpoint is configured: the agents' setting(s) {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} empty",
                fix=f"run `{CONFIGURE_COMMAND}` (and `--api-key KEY` if the endpoint needs a key), "
                "for the project or with `--scope organization`",
            )
        if not endpoint.base_url.startswith(("http://", "https://")):
            raise ModelNotConfigured(
                f"the agents' base_url {endpoint.mask(endpoint.base_url)!r} is not an http(s) URL",
                fix=f"run `{CONFIGURE_COMMAND}` with the endpoint's URL, e.g. http://127.0.0.1:8080/v1",
            )
        self.endpoint = endpoint
        self.meter = meter
        self.sleep = sleep
        self.retries = 0  # retries over this client's life (all calls)
        self._usage_option = True  # off once an endpoint refuses stream_options
        self._client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or _NO_KEY,
            timeout=openai.Timeout(endpoint.timeout_s),
            max_retries=0,
        )

    def close(self) -> None:
        self._client.close()

    # -- the call
    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        on_text: Callable[[str], None] = lambda s: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> ModelTurn:
        """One answer of the model, streamed: text deltas go to `on_text` as they come.

        The caps are checked before every attempt; 429, 5xx, connection errors, timeouts and
        cut-off streams are retried (max_retries, backoff with jitter, Retry-After honoured);
        an attempt cut off half-way has already passed its deltas to `on_text`, and the retry
        streams the answer again from its start. Raises ModelFailure, BudgetExceeded,
        ModelCancelled."""
        e = self.endpoint
        prompt_estimate = count_messages(messages, model=e.model) + count_tools(tools, model=e.model)
        attempt = 0
        while True:
            if cancelled():
                raise ModelCancelled("the model call was cancelled")
            self.meter.check(prompt_estimate)  # before every attempt: a cut-off one may have spent
            try:
                turn = self._attempt(messages, tools, prompt_estimate, on_text, cancelled)
            except _Retry as failure:
                too_long = failure.retry_after is not None and failure.retry_after > RETRY_AFTER_MAX_S
                if too_long:
                    failure.reason += f" (it asks to wait {failure.retry_after:.0f} s: longer than a run waits)"
                if attempt >= e.max_retries or too_long:
                    raise self._failure(failure, attempt + 1) from None
                attempt += 1
                self.retries += 1
                delay = self._delay(attempt, failure.retry_after)
                log.info(
                    "model call failed (%s); retry %d of %d in %.1f s",
                    e.mask(failure.reason),
                    attempt,
                    e.max_retries,
                    delay,
                )
                self._wait(delay, cancelled)
                continue
            turn.attempts = attempt + 1
            return turn

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # Exponential backoff with "equal jitter": half fixed, half random, so that clients
        # retrying together spread out; at least what Retry-After asks.
        backoff = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        delay = backoff / 2 + random.uniform(0, backoff / 2)
        return max(delay, retry_after or 0.0)

    def _wait(self, delay: float, cancelled: Callable[[], bool]) -> None:
        left = delay
        while left > 0:
            if cancelled():
                raise ModelCancelled("the model call was cancelled while waiting to retry")
            step = min(left, SLEEP_SLICE_S)
            self.sleep(step)
            left -= step

    def _failure(self, failure: _Retry, attempts: int) -> ModelFailure:
        e = self.endpoint
        what = f"HTTP {failure.status_code}: " if failure.status_code else ""
        tries = f"after {attempts} attempt(s)" if attempts > 1 else "on the first attempt"
        fix = failure.fix or (
            "check that the endpoint is up and serves the model (GET <base_url>/models), then run the agent again; "
            f"`codeforge agents configure --max-retries N` retries more (now {e.max_retries})"
        )
        return ModelFailure(
            e.mask(f"the model endpoint {e.base_url} failed {tries}: {what}{failure.reason}"),
            fix=e.mask(fix),
            status_code=failure.status_code,
            attempts=attempts,
        )

    def _refused(self, exc: openai.APIStatusError) -> ModelFailure:
        """A 4xx other than 429: retrying would get the same answer."""
        e = self.endpoint
        said = _said(exc)
        fixes = {
            401: "check the API key: `codeforge agents configure --api-key KEY`",
            403: "check that the API key may use this model: `codeforge agents configure --api-key KEY`",
            404: f"check the model name ({e.model!r}) and the base URL: GET <base_url>/models lists the models, "
            f"`{CONFIGURE_COMMAND}` changes them",
        }
        fix = fixes.get(
            exc.status_code,
            "the endpoint refused the request as sent: see its message; "
            "a context too long for the model needs a smaller task or a model with a longer context",
        )
        return ModelFailure(
            e.mask(f"the model endpoint {e.base_url} refused the request: HTTP {exc.status_code}: {said}"),
            fix=fix,
            status_code=exc.status_code,
        )

    def _attempt(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        prompt_estimate: int,
        on_text: Callable[[str], None],
        cancelled: Callable[[], bool],
    ) -> ModelTurn:
        e = self.endpoint
        kwargs: dict[str, Any] = {"model": e.model, "messages": messages, "stream": True}
        if e.max_answer_tokens is not None:
            kwargs["max_tokens"] = e.max_answer_tokens
        if tools:
            kwargs["tools"] = tools
        if self._usage_option:
            kwargs["stream_options"] = {"include_usage": True}
        turn = _Assembler()
        try:
            for chunk in self._chunks(kwargs, cancelled):
                turn.add(chunk, on_text)
        except ModelCancelled:
            self._bill(turn, prompt_estimate)
            raise
        except openai.APITimeoutError:
            self._bill(turn, prompt_estimate)
            raise _Retry(
                f"the endpoint sent nothing for {e.timeout_s:g} s (the timeout_s setting)"
                + (" in the middle of its answer" if turn.chunks else ""),
                fix="check that the endpoint is up and not overloaded; a slow local model needs a longer timeout: "
                "`codeforge agents configure --timeout-s N`",
            ) from None
        except openai.APIConnectionError as exc:
            if turn.finish_reason:  # closed after the answer, before the usage chunk or [DONE]: enough
                return self._turn(turn, prompt_estimate)
            self._bill(turn, prompt_estimate)
            cause = exc.__cause__ or exc
            where = "in the middle of the stream (the answer was cut off)" if turn.chunks else "before answering"
            raise _Retry(
                f"the connection failed {where}: {scrub_secrets(str(cause)) or type(cause).__name__}"
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408:
                raise _Retry(
                    _said(exc),
                    status_code=exc.status_code,
                    retry_after=_retry_after(exc.response.headers),
                    fix=(
                        "the endpoint's rate limit: wait, or raise the limit with its provider"
                        if exc.status_code == 429
                        else ""
                    ),
                ) from None
            if exc.status_code == 400 and self._usage_option and "stream_options" in _said(exc):
                self._usage_option = False  # an older server: usage is counted offline instead
                return self._attempt(messages, tools, prompt_estimate, on_text, cancelled)
            raise self._refused(exc) from None
        except openai.APIError as exc:  # an error event in the stream: the server failed mid-answer
            self._bill(turn, prompt_estimate)
            raise _Retry(f"the endpoint reported an error in the stream: {_said(exc)}") from None
        if not turn.finish_reason:
            self._bill(turn, prompt_estimate)
            raise _Retry("the stream ended before the model finished (no finish_reason): the answer was cut off")
        return self._turn(turn, prompt_estimate)

    def _chunks(self, kwargs: dict[str, Any], cancelled: Callable[[], bool]) -> Iterator[Any]:
        """The stream's chunks, read by a worker thread: a blocked read cannot be interrupted
        (closing the response from another thread does not wake it), so the caller's thread
        waits on a queue instead and checks `cancelled()` every POLL_S, even while the endpoint
        sends nothing. A cancelled worker stops at its next chunk or its read timeout."""
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def pump() -> None:
            try:
                stream = self._client.chat.completions.create(**kwargs)
                try:
                    for chunk in cast(Any, stream):
                        if stop.is_set():
                            return
                        q.put(("chunk", chunk))
                finally:
                    stream.close()
                q.put(("end", None))
            except BaseException as exc:  # handed to the caller's thread, raised there
                q.put(("error", exc))

        threading.Thread(target=pump, name="model-stream", daemon=True).start()
        try:
            while True:
                if cancelled():
                    raise ModelCancelled("the model call was cancelled")
                try:
                    kind, value = q.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()

    def _bill(self, turn: _Assembler, prompt_estimate: int) -> None:
        """An attempt that failed after the model started answering used tokens the provider bills:
        counted offline, so that the caps see them."""
        if turn.chunks:
            self.meter.record(prompt_estimate, self._completion_estimate(turn))

    def _completion_estimate(self, turn: _Assembler) -> int:
        model = self.endpoint.model
        text = "".join(turn.text)
        calls = "".join(c["name"] + "".join(c["arguments"]) for c in turn.calls.values())
        return count_tokens(text, model=model) + count_tokens(calls, model=model)

    def _turn(self, turn: _Assembler, prompt_estimate: int) -> ModelTurn:
        if turn.usage is not None and (turn.usage[0] or turn.usage[1]):
            prompt, completion, reported = turn.usage[0], turn.usage[1], True
        else:
            prompt, completion, reported = prompt_estimate, self._completion_estimate(turn), False
        self.meter.record(prompt, completion)
        return ModelTurn(
            text="".join(turn.text),
            tool_calls=turn.tool_calls(),
            finish_reason=turn.finish_reason,
            prompt_tokens=prompt,
            completion_tokens=completion,
            usage_reported=reported,
        )


def _said(exc: openai.APIError) -> str:
    """What the endpoint said: its error message, else the body, briefly."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return scrub_secrets(str(message))[:500]
    return scrub_secrets(str(exc.message or type(exc).__name__))[:500]
