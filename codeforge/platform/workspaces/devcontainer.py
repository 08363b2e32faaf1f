"""devcontainer.json → WorkspaceSpec (docs/workspaces.md, "devcontainer.json").

The file is JSON with comments and trailing commas, as VS Code reads it. No library here
keeps line and column for values (json, orjson and ujson give them for syntax errors only,
and none takes comments), so a small parser below keeps the position of every value: each
problem, syntax or meaning, names `devcontainer.json:LINE:COLUMN:` and its JSON path, and all
of them are raised together in one BadInput.

Offline only: a feature is resolved when it is a local folder holding
devcontainer-feature.json; every other one goes into `unresolved` with its reason.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.workspaces.records import Limits, ServiceSpec, WorkspaceSpec

__all__ = ["SOURCE", "find_devcontainer", "load_devcontainer", "parse_devcontainer", "parse_jsonc"]

SOURCE = "devcontainer.json"
# Where the Docker runtime mounts the tree (docs/workspaces.md, runtimes: docker).
CONTAINER_WORKSPACE = "/workspace"
MAX_DEPTH = 200


# --------------------------------------------------------------------------- positions


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
            child = _join(path, key)
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


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{quoted}"]'


def parse_jsonc(text: str) -> tuple[Node | None, list[Problem]]:
    """The tree (None when a fault stopped the reading) and the syntax problems found."""
    parser = _Parser(text)
    root = parser.document()
    return root, parser.problems


# --------------------------------------------------------------------------- meaning


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(tb|gb|mb|kb)\s*", re.IGNORECASE)
_SIZE_MB = {"tb": 1024 * 1024, "gb": 1024, "mb": 1, "kb": 1 / 1024}
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"}
_ENV_NAME = re.compile(r"[^=\x00]+")
_SERVICE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SERVICE_KEYS = {"name", "command", "port", "env", "cwd"}
_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "bool": "true or false",
    "null": "null",
}
_GIVEN = {**_TYPE_NAMES, "bool": "a boolean"}


class _Reader:
    def __init__(self, folder: Path, config_dir: Path, local_env: Mapping[str, str]) -> None:
        self.folder = folder.resolve()
        self.config_dir = config_dir
        self.local_env = local_env
        self.problems: list[Problem] = []
        self.unresolved: list[str] = []

    def fault(self, node: Node, path: str, message: str, fix: str) -> None:
        self.problems.append(Problem(node.line, node.col, path, message, fix))

    def expect(self, node: Node, path: str, kind: str, what: str = "") -> bool:
        if node.kind == kind:
            return True
        self.fault(
            node,
            path,
            f'"{path}" must be {what or _TYPE_NAMES[kind]}, not {_GIVEN[node.kind]}',
            f"give {what or _TYPE_NAMES[kind]}",
        )
        return False

    # -- paths inside the tree

    def inside(self, node: Node, path: str, relative: str, base: Path, *, want: str) -> str | None:
        """`relative` (from `base`) as a path relative to the tree, or None (reported) when it
        leaves the tree or is missing."""
        if not relative.strip():
            self.fault(node, path, f'"{path}" is empty', "name a path relative to the devcontainer.json's folder")
            return None
        target = (base / relative).resolve()
        if not target.is_relative_to(self.folder):
            self.fault(
                node,
                path,
                f'"{path}" leads outside the workspace\'s folder ({relative!r})',
                "use a path inside the project: the workspace sees nothing else",
            )
            return None
        exists = target.is_dir() if want == "folder" else target.is_file()
        if not exists:
            shown = target.relative_to(self.folder).as_posix()
            self.fault(
                node, path, f'"{path}" names a {want} that does not exist ({shown})', f"create {shown} or fix the path"
            )
            return None
        return target.relative_to(self.folder).as_posix() or "."

    # -- commands

    def command(self, node: Node, path: str) -> tuple[str, ...] | None:
        if node.kind == "string":
            if not node.value.strip():
                self.fault(node, path, f'"{path}" is an empty command', "write the command to run, or remove the key")
                return None
            return ("/bin/sh", "-c", node.value)
        if node.kind == "array":
            argv = []
            for index, item in enumerate(node.value):
                if self.expect(item, f"{path}[{index}]", "string"):
                    argv.append(item.value)
            if not node.value:
                self.fault(node, path, f'"{path}" is an empty command', "list the program and its arguments")
                return None
            return tuple(argv) if len(argv) == len(node.value) else None
        self.fault(
            node,
            path,
            f'"{path}" must be a command: a string, a list of arguments or an object of named commands, not {_GIVEN[node.kind]}',
            'write "npm install" or ["npm", "install"]',
        )
        return None

    def lifecycle(self, node: Node, path: str) -> list[tuple[str, ...]]:
        if node.kind != "object":
            one = self.command(node, path)
            return [one] if one else []
        commands = []
        for name, _, value in node.last_members():
            if value.kind == "object":
                self.fault(
                    value, _join(path, name), "a named command must be a string or a list", 'write "npm install"'
                )
                continue
            one = self.command(value, _join(path, name))
            if one:
                commands.append(one)
        return commands

    # -- ports

    def ports(self, node: Node, path: str) -> list[int]:
        if not self.expect(node, path, "array", "a list of ports"):
            return []
        out: list[int] = []
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            port = self.port(item, where, allow_host=True)
            if port is not None and port not in out:
                out.append(port)
        return out

    def port(self, node: Node, path: str, *, allow_host: bool) -> int | None:
        if node.kind == "number" and isinstance(node.value, int):
            if 1 <= node.value <= 65535:
                return int(node.value)
            self.fault(node, path, f'"{path}" is {node.value}: a port is 1 to 65535', "use a port from 1 to 65535")
            return None
        if allow_host and node.kind == "string":
            host, sep, number = node.value.rpartition(":")
            if not sep or not host or not number.isdigit() or not 1 <= int(number) <= 65535:
                self.fault(
                    node, path, f'"{path}" must be a port or "host:port", not {node.value!r}', 'write 3000 or "db:5432"'
                )
                return None
            if host.lower() not in _LOCAL_HOSTS:
                self.unresolved.append(
                    f"{path} {node.value!r}: forwarding another host's port is not supported here; not forwarded"
                )
                return None
            return int(number)
        what = 'a port (1 to 65535) or "host:port"' if allow_host else "a port (1 to 65535)"
        self.fault(node, path, f'"{path}" must be {what}, not {_GIVEN[node.kind]}{_shown(node)}', f"give {what}")
        return None

    # -- environment

    def env(self, node: Node, path: str, known: Mapping[str, str] | None) -> dict[str, str]:
        """`known` is the container's environment for ${containerEnv:…}; None where the
        container's environment is not known yet (containerEnv itself)."""
        if not self.expect(node, path, "object", "an object of NAME: value"):
            return {}
        out: dict[str, str] = {}
        for name, key, value in node.last_members():
            where = _join(path, name)
            if not _ENV_NAME.fullmatch(name):
                self.fault(key, where, f"{name!r} is not a variable name", "use a name without = (e.g. APP_PORT)")
                continue
            if value.kind == "null":
                continue  # VS Code: null unsets the variable
            if not self.expect(value, where, "string"):
                continue
            resolved = self.substitute(value, where, value.value, known)
            if resolved is not None:
                out[name] = resolved
        return out

    def substitute(self, node: Node, path: str, text: str, known: Mapping[str, str] | None) -> str | None:
        """${localEnv:VAR[:default]}, ${containerEnv:VAR[:default]} and the folder variables;
        None (and listed in unresolved) where a container variable cannot be known here."""
        missing: list[str] = []

        def one(match: re.Match[str]) -> str:
            inner = match[1]
            kind, _, rest = inner.partition(":")
            if kind in ("localEnv", "env", "containerEnv"):
                name, has_default, default = rest.partition(":")
                if not name:
                    self.fault(node, path, f"${{{inner}}} names no variable", f"write ${{{kind}:NAME}}")
                    return match[0]
                source = self.local_env if kind != "containerEnv" else known
                if source is None:
                    self.fault(
                        node,
                        path,
                        f"${{{inner}}}: the container's variables are not known in containerEnv",
                        "use ${containerEnv:…} in remoteEnv, or ${localEnv:…} here",
                    )
                    return match[0]
                if name in source:
                    return source[name]
                if has_default:
                    return default
                if kind == "containerEnv":
                    missing.append(name)
                    return match[0]
                # VS Code puts an empty string for a variable the host does not have.
                self.unresolved.append(f"{path}: ${{{inner}}} is not set here; empty")
                return ""
            if kind == "localWorkspaceFolder":
                return str(self.folder)
            if kind == "localWorkspaceFolderBasename":
                return self.folder.name
            if kind == "containerWorkspaceFolder":
                return CONTAINER_WORKSPACE
            if kind == "containerWorkspaceFolderBasename":
                return CONTAINER_WORKSPACE.rsplit("/", 1)[-1]
            return match[0]  # VS Code leaves other variables as written

        result = _VARIABLE.sub(one, text)
        if missing:
            names = ", ".join(missing)
            self.unresolved.append(
                f"{path}: ${{containerEnv:{names}}} is the image's value, known only once the container runs; left unset"
            )
            return None
        return result

    # -- features

    def features(self, node: Node, path: str) -> list[str]:
        if not self.expect(node, path, "object", "an object of feature: options"):
            return []
        out: list[str] = []
        for name, key, value in node.last_members():
            where = _join(path, name)
            if value.kind not in ("object", "string", "bool"):
                self.fault(
                    value, where, f'"{where}" options must be an object, a string or true', "give {} for the defaults"
                )
                continue
            if name.startswith(("./", "../")):
                local = self.inside(key, where, name, self.config_dir, want="folder")
                if local is None:
                    continue
                manifest = self.folder / local / "devcontainer-feature.json"
                if not manifest.is_file():
                    self.fault(
                        key,
                        where,
                        f"the local feature {name!r} has no devcontainer-feature.json",
                        f"add {local}/devcontainer-feature.json with its id, or remove the feature",
                    )
                    continue
                if self._feature_manifest(key, where, manifest):
                    out.append(local)
                continue
            host = _feature_host(name)
            self.unresolved.append(f"feature {name}: needs the internet: {host} is not reachable")
        return out

    def _feature_manifest(self, node: Node, path: str, manifest: Path) -> bool:
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.fault(node, path, f"cannot read {manifest.name}: {exc}", "make it a readable UTF-8 file")
            return False
        root, problems = parse_jsonc(text)
        if problems or root is None:
            first = problems[0] if problems else None
            where = f"{first.line}:{first.col}: {first.message}" if first else "unreadable"
            self.fault(node, path, f"its devcontainer-feature.json is not valid JSON ({where})", "fix that file")
            return False
        ident = root.get("id") if root.kind == "object" else None
        if ident is None or ident.kind != "string" or not ident.value:
            self.fault(node, path, 'its devcontainer-feature.json has no "id"', 'add "id": "<name>" to it')
            return False
        return True

    # -- limits

    def limits(self, node: Node, path: str) -> Limits:
        if not self.expect(node, path, "object"):
            return Limits()
        cpus: float | None = None
        memory = disk = None
        value = node.get("cpus")
        if value is not None:
            where = f"{path}.cpus"
            if value.kind == "number" and isinstance(value.value, int) and value.value >= 1:
                cpus = float(value.value)
            else:
                self.fault(value, where, f'"{where}" must be a whole number of CPUs, at least 1', "write 2")
        value = node.get("memory")
        if value is not None:
            memory = self.size(value, f"{path}.memory")
        value = node.get("storage")
        if value is not None:
            disk = self.size(value, f"{path}.storage")
        return Limits(cpus=cpus, memory_mb=memory, disk_mb=disk)

    def size(self, node: Node, path: str) -> int | None:
        match = _SIZE.fullmatch(node.value) if node.kind == "string" else None
        if match is None or float(match[1]) <= 0:
            self.fault(node, path, f'"{path}" must be a size such as "4gb" or "512mb"', 'write "4gb"')
            return None
        return max(1, math.ceil(float(match[1]) * _SIZE_MB[match[2].lower()]))

    # -- CodeForge services

    def services(self, node: Node, path: str) -> list[ServiceSpec]:
        if not self.expect(node, path, "array", "a list of services"):
            return []
        out: list[ServiceSpec] = []
        names: set[str] = set()
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            if not self.expect(item, where, "object", "a service: {name, command, port?, env?, cwd?}"):
                continue
            ok = True
            for key, key_node, _ in item.members:
                if key not in _SERVICE_KEYS:
                    self.fault(
                        key_node,
                        _join(where, key),
                        f"a service takes no {key!r}",
                        f"use only {', '.join(sorted(_SERVICE_KEYS))}",
                    )
                    ok = False
            name_node = item.get("name")
            name = ""
            if name_node is None:
                self.fault(item, f"{where}.name", "a service needs a name", 'add "name": "web"')
                ok = False
            elif self.expect(name_node, f"{where}.name", "string"):
                name = name_node.value
                if not _SERVICE_NAME.fullmatch(name):
                    self.fault(
                        name_node,
                        f"{where}.name",
                        f"{name!r} is not a service name",
                        "use lowercase letters, digits and -",
                    )
                    ok = False
                elif name in names:
                    self.fault(
                        name_node, f"{where}.name", f"a second service named {name!r}", "give each service its own name"
                    )
                    ok = False
                names.add(name)
            else:
                ok = False
            command_node = item.get("command")
            command = None
            if command_node is None:
                self.fault(
                    item, f"{where}.command", "a service needs a command", 'add "command": ["python3", "app.py"]'
                )
            else:
                command = self.command(command_node, f"{where}.command")
            port_node = item.get("port")
            port = None
            if port_node is not None and port_node.kind != "null":
                port = self.port(port_node, f"{where}.port", allow_host=False)
                ok = ok and port is not None
            env_node = item.get("env")
            env = self.env(env_node, f"{where}.env", None) if env_node is not None else {}
            cwd_node = item.get("cwd")
            cwd = "."
            if cwd_node is not None and self.expect(cwd_node, f"{where}.cwd", "string"):
                cwd = self.inside(cwd_node, f"{where}.cwd", cwd_node.value, self.folder, want="folder") or ""
                ok = ok and bool(cwd)
            elif cwd_node is not None:
                ok = False
            if ok and command:
                out.append(ServiceSpec(name=name, command=command, port=port, env=env, cwd=cwd))
        return out


def _shown(node: Node) -> str:
    if node.kind in ("number", "string"):
        return f" {node.value!r}"
    return ""


def _feature_host(ident: str) -> str:
    if ident.startswith(("https://", "http://")):
        return ident.split("/")[2]
    first = ident.split("/", 1)[0]
    # "node" (the old short form) and "devcontainers/features/node" both live on ghcr.io.
    if "/" not in ident or ("." not in first and ":" not in first):
        return "ghcr.io"
    return first


def _read(root: Node, reader: _Reader) -> WorkspaceSpec:
    if root.kind != "object":
        reader.fault(root, "(file)", f"the file must hold an object, not {_TYPE_NAMES[root.kind]}", "write { … }")
        return WorkspaceSpec()
    image = dockerfile = None
    context = "."
    image_node = root.get("image")
    if image_node is not None and reader.expect(image_node, "image", "string"):
        if image_node.value.strip():
            image = image_node.value
        else:
            reader.fault(image_node, "image", '"image" is empty', 'name an image, e.g. "python:3.12"')
    build = root.get("build")
    dockerfile_node = context_node = None
    dockerfile_path = context_path = ""
    if build is not None and reader.expect(build, "build", "object"):
        dockerfile_node, dockerfile_path = build.get("dockerfile") or build.get("dockerFile"), "build.dockerfile"
        context_node, context_path = build.get("context"), "build.context"
        if dockerfile_node is None:
            reader.fault(build, "build.dockerfile", '"build" needs "dockerfile"', 'add "dockerfile": "Dockerfile"')
    legacy = root.get("dockerFile")
    if legacy is not None and dockerfile_node is None:
        dockerfile_node, dockerfile_path = legacy, "dockerFile"
        context_node, context_path = root.get("context"), "context"
    if dockerfile_node is not None and reader.expect(dockerfile_node, dockerfile_path, "string"):
        dockerfile = reader.inside(
            dockerfile_node, dockerfile_path, dockerfile_node.value, reader.config_dir, want="file"
        )
    if context_node is not None and reader.expect(context_node, context_path, "string"):
        context = reader.inside(context_node, context_path, context_node.value, reader.config_dir, want="folder") or "."
    elif context_node is None and dockerfile_node is not None:
        # The default context is the devcontainer.json's folder (VS Code's default).
        context = reader.inside(dockerfile_node, context_path, ".", reader.config_dir, want="folder") or "."
    if image_node is not None and dockerfile_node is not None:
        reader.fault(image_node, "image", 'give "image" or "build", not both', 'remove one of "image" and "build"')
    if image_node is None and dockerfile_node is None and build is None:
        compose = root.get("dockerComposeFile")
        if compose is not None:
            reader.fault(
                compose,
                "dockerComposeFile",
                "Docker Compose devcontainers are not supported",
                'use "image" or "build.dockerfile"',
            )
        else:
            reader.fault(
                root,
                "image",
                'neither "image" nor "build" is given',
                'add "image": "…" or "build": {"dockerfile": "Dockerfile"}',
            )

    post_create: list[tuple[str, ...]] = []
    # All three run once, in this order, when the container is created (VS Code's lifecycle).
    for key in ("onCreateCommand", "updateContentCommand", "postCreateCommand"):
        node = root.get(key)
        if node is not None:
            post_create += reader.lifecycle(node, key)

    forward = reader.ports(root.get("forwardPorts") or Node("array", [], 0, 0), "forwardPorts")

    container_env: dict[str, str] = {}
    node = root.get("containerEnv")
    if node is not None:
        container_env = reader.env(node, "containerEnv", None)
    env = dict(container_env)
    node = root.get("remoteEnv")
    if node is not None:
        env.update(reader.env(node, "remoteEnv", container_env))

    features: list[str] = []
    node = root.get("features")
    if node is not None:
        features = reader.features(node, "features")

    limits = Limits()
    node = root.get("hostRequirements")
    if node is not None:
        limits = reader.limits(node, "hostRequirements")

    services: list[ServiceSpec] = []
    custom = root.get("customizations")
    if custom is not None and reader.expect(custom, "customizations", "object"):
        ours = custom.get("codeforge")
        if ours is not None and reader.expect(ours, "customizations.codeforge", "object"):
            listed = ours.get("services")
            if listed is not None:
                services = reader.services(listed, "customizations.codeforge.services")

    return WorkspaceSpec(
        image=image,
        dockerfile=dockerfile,
        build_context=context,
        post_create=tuple(post_create),
        forward_ports=tuple(forward),
        env=env,
        services=tuple(services),
        limits=limits,
        features=tuple(features),
        unresolved=tuple(reader.unresolved),
    )


def _raise(problems: list[Problem]) -> None:
    ordered = sorted(problems, key=lambda p: (p.line, p.col))
    listed = [FieldProblem(p.field, f"{SOURCE}:{p.line}:{p.col}: {p.message}", p.fix) for p in ordered[:50]]
    first = ordered[0]
    raise BadInput(
        f"{SOURCE}:{first.line}:{first.col}: {len(ordered)} problem(s) in {SOURCE}",
        errors=listed,
        fix="correct each place named, then create the workspace again",
    )


def parse_devcontainer(
    text: str, folder: Path, *, config_dir: Path | None = None, local_env: Mapping[str, str] | None = None
) -> WorkspaceSpec:
    """The WorkspaceSpec a devcontainer.json says. `folder` is the workspace's tree;
    `config_dir` is the folder holding the file (paths in it are relative to it; default
    `folder/.devcontainer`); `local_env` is the host's environment for ${localEnv:…}
    (default os.environ). Every problem is raised at once as one BadInput."""
    root, problems = parse_jsonc(text)
    if root is None:
        _raise(problems)
    assert root is not None
    reader = _Reader(
        folder, (config_dir or folder / ".devcontainer").resolve(), os.environ if local_env is None else local_env
    )
    spec = _read(root, reader)
    if problems or reader.problems:
        _raise(problems + reader.problems)
    return spec


def find_devcontainer(folder: Path, choice: str | None = None) -> Path | None:
    """The project's devcontainer.json: .devcontainer/devcontainer.json, .devcontainer.json
    or .devcontainer/<name>/devcontainer.json; None when there is none. Several: `choice`
    (a path relative to `folder`) picks one, else a BadInput lists them."""
    found = []
    for candidate in (folder / ".devcontainer" / "devcontainer.json", folder / ".devcontainer.json"):
        if candidate.is_file():
            found.append(candidate)
    nested = folder / ".devcontainer"
    if nested.is_dir():
        found += sorted(p for p in nested.glob("*/devcontainer.json") if p.is_file())
    names = [p.relative_to(folder).as_posix() for p in found]
    if choice is not None:
        wanted = PurePosixPath(choice.strip()).as_posix()
        for path, name in zip(found, names, strict=True):
            if wanted in (name, f"{name.removesuffix('/devcontainer.json')}"):
                return path
        raise BadInput(
            f"no devcontainer.json at {choice!r}",
            errors=[
                FieldProblem(
                    "devcontainer", f"{choice!r} is not one of {', '.join(names) or 'none'}", "name one of them"
                )
            ],
        )
    if len(found) > 1:
        raise BadInput(
            f"the project has {len(found)} devcontainer.json files: {', '.join(names)}",
            errors=[FieldProblem("devcontainer", "which one?", f"pass devcontainer= one of {', '.join(names)}")],
        )
    return found[0] if found else None


def load_devcontainer(
    folder: Path, choice: str | None = None, *, local_env: Mapping[str, str] | None = None
) -> WorkspaceSpec | None:
    """find_devcontainer, then parse_devcontainer with that file's folder; None without one."""
    path = find_devcontainer(folder, choice)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{SOURCE} is not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    return parse_devcontainer(text, folder, config_dir=path.parent, local_env=local_env)
