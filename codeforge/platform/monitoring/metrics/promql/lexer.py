"""PromQL's tokens, each with the offset it starts at (for errors that name a position)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from codeforge.platform.monitoring.metrics.promql.errors import PromQLError

__all__ = ["Token", "duration_ms", "tokenize"]

# Longest first, so `=~` is not read as `=` then `~`.
_OPERATORS = ("=~", "!~", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%", "^", ">", "<", "=", ",", ":", "@")
_BRACKETS = {"(": "(", ")": ")", "{": "{", "}": "}", "[": "[", "]": "]"}

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_.])")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_DIGITS = "0123456789"
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_:]*")  # a leading ":" would swallow a subquery's step
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | number | duration | string | an operator or bracket itself | eof
    text: str  # as written (for a string: its value, unquoted)
    pos: int

    def describe(self) -> str:
        """How an error names it: `")"`, `identifier "foo"`, `end of input`."""
        if self.kind == "eof":
            return "end of input"
        if self.kind == "ident":
            return f'identifier "{self.text}"'
        if self.kind == "number":
            return f"number {self.text}"
        if self.kind == "duration":
            return f"duration {self.text}"
        if self.kind == "string":
            return f"string {self.text!r}"
        return f'"{self.text}"'


def duration_ms(text: str, pos: int = 0) -> int:
    """Milliseconds of a Prometheus duration (`30s`, `5m`, `1h30m`); units largest first."""
    if not _DURATION.fullmatch(text):
        raise PromQLError(f'bad duration "{text}": write a number and a unit (ms s m h d w y), e.g. 5m or 1h30m', pos)
    total, last_unit = 0, None
    order = list(_UNITS_MS)
    for number, unit in _DURATION_PART.findall(text):
        if last_unit is not None and order.index(unit) >= order.index(last_unit):
            raise PromQLError(f'bad duration "{text}": units must go from largest to smallest, each once', pos)
        last_unit = unit
        total += int(number) * _UNITS_MS[unit]
    if total == 0:
        raise PromQLError(f'bad duration "{text}": a duration must be more than zero', pos)
    return total


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    i, out = start + 1, list[str]()
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if quote == "`":
            out.append(ch)
        elif ch == "\n":
            break
        elif ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 1
            elif nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise PromQLError(f"bad escape \\{nxt} in string: expected {width} hex digits", i)
                out.append(chr(int(digits, 16)))
                i += 1 + width
            else:
                raise PromQLError(f"unknown escape sequence \\{nxt} in string", i)
        else:
            out.append(ch)
        i += 1
    raise PromQLError(f"unterminated string: expected a closing {quote}", start)


def tokenize(text: str) -> list[Token]:
    """The query's tokens, ending with an `eof` token; comments (`# ...`) and spaces skipped."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch in "\"'`":
            value, end = _string(text, i)
            tokens.append(Token("string", value, i))
            i = end
            continue
        # ASCII digits only: str.isdigit() is true for "³" and "٣", which no number pattern reads.
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _DURATION.match(text, i)
            if m:
                tokens.append(Token("duration", m.group(), i))
                i = m.end()
                continue
            m = _NUMBER.match(text, i)
            assert m is not None  # a digit or ".digit" always starts a number
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] == "_"):
                j = end
                while j < n and (text[j].isalnum() or text[j] in "_."):
                    j += 1
                raise PromQLError(
                    f'bad number or duration "{text[i:j]}": a duration is a number and a unit (ms s m h d w y)', i
                )
            tokens.append(Token("number", m.group(), i))
            i = end
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(Token("ident", m.group(), i))
            i = m.end()
            continue
        if ch in _BRACKETS:
            tokens.append(Token(ch, ch, i))
            i += 1
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(op, op, i))
                i += len(op)
                break
        else:
            raise PromQLError(f"unexpected character {ch!r}", i)
    tokens.append(Token("eof", "", n))
    return tokens
