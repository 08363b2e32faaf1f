"""JSON with comments and trailing commas, as VS Code reads its settings and
devcontainer.json, keeping the line and column of every value (json, orjson and ujson give
positions for syntax errors only, and none takes comments): `parse_jsonc` returns the tree
and every syntax problem, each at its position, reading past a missing comma so later
mistakes are found too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_DEPTH", "Node", "Problem", "join_path", "parse_jsonc"]

MAX_DEPTH = 200


@dataclass
class Node:
    """A JSON value with where it starts. Objects keep their members in order as
    (key, key's Node, value's Node); a repeated key: the last one wins, as in VS Code."""

    kind: str  # object | array | string | number | bool | null
    value: Any
    line: int
    col: int
    members: list[tuple[str, Node, Node]] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        found = None
        for name, _, value in self.members:
            if name == key:
                found = value
        return found

    def last_members(self) -> list[tuple[str, Node, Node]]:
        seen: dict[str, tuple[str, Node, Node]] = {}
        for member in self.members:
            seen.pop(member[0], None)
            seen[member[0]] = member
        return list(seen.values())


@dataclass(frozen=True)
class Problem:
    line: int
    col: int
    field: str
    message: str
    fix: str


class _Fatal(Exception):
    """A syntax fault the parser cannot go past."""


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CLOSER = {"{": "}", "[": "]"}


class _Parser:
    """JSON with // and /* */ comments and trailing commas. A missing comma is reported and
    read past (the rest of the file is still checked); a fault it cannot read past (an
    unclosed brace, a stray token) ends the reading."""

    def __init__(self, text: str) -> None:
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.i = 0
        self.line = 1
        self.col = 1
        self.problems: list[Problem] = []
        self.depth = 0

    # -- low level

    def _advance(self, n: int) -> None:
        for ch in self.text[self.i : self.i + n]:
            if ch == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
        self.i += n

    def _fault(self, line: int, col: int, path: str, message: str, fix: str) -> None:
        self.problems.append(Problem(line, col, path or "(file)", message, fix))

    def _fatal(self, line: int, col: int, path: str, message: str, fix: str) -> _Fatal:
        self._fault(line, col, path, message, fix)
        return _Fatal()

    def _skip(self) -> None:
        """Whitespace and comments."""
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r\n":
                self._advance(1)
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                self._advance((len(text) if end < 0 else end) - self.i)
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    raise self._fatal(
                        self.line, self.col, "", "a /* comment is never closed", "end the comment with */"
                    )
                self._advance(end + 2 - self.i)
            else:
                return

    def _peek(self) -> str:
        self._skip()
        return self.text[self.i] if self.i < len(self.text) else ""

    # -- values

    def document(self) -> Node | None:
        try:
            if self._peek() == "":
                raise self._fatal(self.line, self.col, "", "the file is empty", "write a JSON object: {}")
            root = self._value("")
            if self._peek() != "":
                raise self._fatal(
                    self.line,
                    self.col,
                    "",
                    f"unexpected {self._describe()} after the end of the top-level value",
                    "remove it, or put it inside the top-level object",
                )
            return root
        except _Fatal:
            return None

    def _describe(self) -> str:
        if self.i >= len(self.text):
            return "end of file"
        word = _WORD.match(self.text, self.i)
        if word:
            return f"`{word[0]}`"
        return f"`{self.text[self.i]}`"

    def _value(self, path: str) -> Node:
        ch = self._peek()
        line, col = self.line, self.col
        if ch in "{[" and ch:
            if self.depth >= MAX_DEPTH:
                # A bound on recursion: a file of 100,000 `[` would otherwise crash the reader.
                raise self._fatal(line, col, path, f"nested deeper than {MAX_DEPTH} levels", "flatten the value")
            self.depth += 1
            try:
                return self._object(path) if ch == "{" else self._array(path)
            finally:
                self.depth -= 1
        if ch == '"':
            return Node("string", self._string(path), line, col)
        number = _NUMBER.match(self.text, self.i) if ch in "-0123456789" else None
        if number:
            raw = number[0]
            self._advance(len(raw))
            value: int | float = int(raw) if re.fullmatch(r"-?[0-9]+", raw) else float(raw)
            return Node("number", value, line, col)
        word = _WORD.match(self.text, self.i)
        if word and word[0] in ("true", "false", "null"):
            self._advance(len(word[0]))
            if word[0] == "null":
                return Node("null", None, line, col)
            return Node("bool", word[0] == "true", line, col)
        if ch == "'":
            raise self._fatal(line, col, path, "strings take double quotes", "write \"…\" instead of '…'")
        raise self._fatal(
            line, col, path, f"expected a value, found {self._describe()}", "write a string, number, object or list"
        )

    def _string(self, path: str) -> str:
        line, col = self.line, self.col
        text = self.text
        self._advance(1)
        out: list[str] = []
        while True:
            if self.i >= len(text) or text[self.i] == "\n":
                raise self._fatal(line, col, path, "a string is never closed", 'end it with " on the same line')
            ch = text[self.i]
            if ch == '"':
                self._advance(1)
                return "".join(out)
            if ch == "\\":
                nxt = text[self.i + 1 : self.i + 2]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                    self._advance(2)
                    continue
                if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[self.i + 2 : self.i + 6]):
                    code = int(text[self.i + 2 : self.i + 6], 16)
                    line, col = self.line, self.col
                    self._advance(6)
                    low = text[self.i + 2 : self.i + 6]
                    if (
                        0xD800 <= code < 0xDC00
                        and text.startswith("\\u", self.i)
                        and re.fullmatch(r"[dD][c-fC-F][0-9a-fA-F]{2}", low)
                    ):
                        code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                        self._advance(6)
                    if 0xD800 <= code < 0xE000:
                        # Half of a pair: Python would keep it, but no file or environment can hold it.
                        self._fault(
                            line, col, path, "a lone UTF-16 surrogate escape", "write the whole pair or the character"
                        )
                    out.append(chr(code))
                    continue
                self._fault(
                    self.line, self.col, path, "an unknown escape in a string", 'use \\", \\\\, \\n, \\t or \\uXXXX'
                )
                self._advance(2 if nxt else 1)
                continue
            if ord(ch) < 0x20:
                self._fault(self.line, self.col, path, "a control character in a string", "write it as \\uXXXX")
            out.append(ch)
            self._advance(1)

    def _object(self, path: str) -> Node:
        node = Node("object", None, self.line, self.col)
        self._advance(1)
        while True:
            ch = self._peek()
            if ch == "}":
                self._advance(1)
                return node
            if ch == "":
                raise self._unclosed(node, path, "{")
            if ch != '"':
                raise self._fatal(
                    self.line,
                    self.col,
                    path,
                    f"expected a key in double quotes or `}}`, found {self._describe()}",
                    'write "key": value',
                )
            key_node = Node("string", None, self.line, self.col)
            key = self._string(path)
            key_node.value = key
            child = join_path(path, key)
            if self._peek() != ":":
                raise self._fatal(
                    self.line,
                    self.col,
                    child,
                    f"expected `:` after the key, found {self._describe()}",
                    'write "key": value',
                )
            self._advance(1)
            node.members.append((key, key_node, self._value(child)))
            ch = self._peek()
            if ch == ",":
                self._advance(1)
            elif ch == '"':
                # Read past a missing comma so the rest of the file is still checked.
                self._fault(
                    self.line,
                    self.col,
                    child,
                    f"a comma is missing after {key!r}'s value",
                    "add `,` after the value before it",
                )
            elif ch != "}":
                if ch == "":
                    raise self._unclosed(node, path, "{")
                raise self._fatal(
                    self.line,
                    self.col,
                    child,
                    f"expected `,` or `}}`, found {self._describe()}",
                    "add `,` between members",
                )

    def _array(self, path: str) -> Node:
        node = Node("array", [], self.line, self.col)
        self._advance(1)
        while True:
            ch = self._peek()
            if ch == "]":
                self._advance(1)
                return node
            if ch == "":
                raise self._unclosed(node, path, "[")
            item = self._value(f"{path}[{len(node.value)}]")
            node.value.append(item)
            ch = self._peek()
            if ch == ",":
                self._advance(1)
            elif ch in ('"', "{", "[", "-", "t", "f", "n") or ch.isdigit():
                self._fault(
                    self.line,
                    self.col,
                    f"{path}[{len(node.value)}]",
                    "a comma is missing before this item",
                    "add `,` after the item before it",
                )
            elif ch != "]":
                if ch == "":
                    raise self._unclosed(node, path, "[")
                raise self._fatal(
                    self.line,
                    self.col,
                    f"{path}[{len(node.value)}]",
                    f"expected `,` or `]`, found {self._describe()}",
                    "add `,` between items",
                )

    def _unclosed(self, node: Node, path: str, opener: str) -> _Fatal:
        # The fault is the opener: the end of the file is only where it was noticed.
        return self._fatal(
            node.line,
            node.col,
            path,
            f"this `{opener}` is never closed (the file ends at {self.line}:{self.col})",
            f"add `{_CLOSER[opener]}` where it should end",
        )


def join_path(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{quoted}"]'


def parse_jsonc(text: str) -> tuple[Node | None, list[Problem]]:
    """The tree (None when a fault stopped the reading) and the syntax problems found."""
    parser = _Parser(text)
    root = parser.document()
    return root, parser.problems
