"""Series selectors as Prometheus writes them (`up{job="api", code=~"5.."}`, `{__name__=~"x_.*"}`)
and matching label sets against their matchers, for the store, `monitoring.series` and the
Prometheus API's `match[]` (PromQL's own parser handles full expressions).

Regexes are fully anchored, as Prometheus's: `job=~"ap"` does not match `api`. A missing
label matches as the empty string, so `{env=""}` selects series without `env`."""

from __future__ import annotations

import functools
import re

from codeforge.platform.monitoring.records import Matcher, matches

__all__ = ["SelectorError", "compiled", "matches", "parse_selector"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_SPACE = re.compile(r"\s*")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "`": "`"}


class SelectorError(ValueError):
    """A selector that does not parse; the message names the 1-based column."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> re.Pattern[str]:
    """The regex of an `=~`/`!~` matcher, anchored at both ends; ValueError when it is not one."""
    try:
        return re.compile(f"(?:{pattern})", re.DOTALL)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None


def _string(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and quote != "`" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SelectorError(f"unterminated string starting with {quote}", pos + 1)


def parse_selector(text: str) -> list[Matcher]:
    """`name{label op "value", ...}` (the name, the braces, or both) into matchers."""
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    matchers: list[Matcher] = []
    name = _NAME.match(text, pos)
    if name:
        matchers.append(Matcher("__name__", "=", name.group()))
        pos = _SPACE.match(text, name.end()).end()  # type: ignore[union-attr]
    if pos < len(text) and text[pos] == "{":
        pos += 1
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if pos < len(text) and text[pos] == "}":
                pos += 1
                break
            label = _LABEL.match(text, pos)
            if label is None:
                raise SelectorError(f"expected a label name, found {text[pos : pos + 10]!r}", pos + 1)
            pos = _SPACE.match(text, label.end()).end()  # type: ignore[union-attr]
            op = _OP.match(text, pos)
            if op is None:
                raise SelectorError(f"expected =, !=, =~ or !~ after {label.group()!r}", pos + 1)
            pos = _SPACE.match(text, op.end()).end()  # type: ignore[union-attr]
            if pos >= len(text) or text[pos] not in "\"'`":
                raise SelectorError("expected a quoted value", pos + 1)
            start = pos
            value, pos = _string(text, pos)
            if op.group() in ("=~", "!~"):
                try:
                    compiled(value)
                except ValueError as exc:
                    raise SelectorError(str(exc), start + 1) from None
            matchers.append(Matcher(label.group(), op.group(), value))
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == "}":
                pos += 1
                break
            raise SelectorError('expected "," or "}" after a matcher', pos + 1)
    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if pos < len(text):
        raise SelectorError(f"unexpected {text[pos : pos + 10]!r} after the selector", pos + 1)
    if not matchers:
        raise SelectorError("expected a metric name or {label matchers}", 1)
    if all(matches({}, [m]) for m in matchers):
        raise SelectorError(
            "the selector matches every series: give a metric name or a matcher of a non-empty value", 1
        )
    return matchers
