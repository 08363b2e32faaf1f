"""codeforge.yaml as the editor sees it: problems at their line and column (from PyYAML's
node marks), the key path at a cursor, and the JSON Schema of `ProjectFile` to walk.

Positions here are code points (Python string indexes); the features convert them to the
client's position encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from codeforge.projectfile import PROJECT_FILE_NAMES, ProjectFile, project_file_problems

__all__ = [
    "Analysis",
    "Problem",
    "Span",
    "analyse",
    "current_model",
    "cursor_context",
    "is_project_file",
    "key_at",
    "locate",
    "project_schema",
    "resolve_schema",
    "schema_at",
    "use_model",
]

# codeforge.yaml's model: `ProjectFile`, or the model with the sections of capabilities
# from outside this package (`codeforge.platform.registry.project_file_model`), which the
# assembly sets once for the process.
_model: type[ProjectFile] = ProjectFile


def use_model(model: type[ProjectFile]) -> None:
    """Check and describe codeforge.yaml with this model from now on."""
    global _model
    _model = model
    project_schema.cache_clear()


def current_model() -> type[ProjectFile]:
    return _model


@dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Problem:
    span: Span
    message: str
    warning: bool = False


@dataclass
class Analysis:
    """The file parsed as far as it goes."""

    model: ProjectFile | None = None
    root: Node | None = None
    problems: list[Problem] = field(default_factory=list)


def is_project_file(uri: str) -> bool:
    return PurePosixPath(urlparse(uri).path).name in PROJECT_FILE_NAMES


def _span(node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    if end.line > start.line and end.column == 0:
        # A block mapping's end mark sits at the start of the next line: end on the key's line.
        return Span(start.line, start.column, start.line, start.column + 1)
    return Span(start.line, start.column, end.line, end.column)


def _find(mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def locate(root: Node | None, loc: tuple[Any, ...], *, key: bool = False) -> Span:
    """The span an error at `loc` (a pydantic location) belongs to.

    The key when the key is wrong ("[key]", an unknown key), or when the value is a whole
    block; the value when a scalar value is wrong. Location parts that are not keys in the
    document (pydantic's union or validator tags) are skipped."""
    if root is None:
        return Span(0, 0, 0, 1)
    node: Node = root
    key_node: Node | None = None
    for part in loc:
        if part == "[key]":
            key = True
            break
        if isinstance(node, SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                # A list item: keys below are looked up in it; a scalar item is the value.
                node = node.value[part]
                if isinstance(node, ScalarNode):
                    key_node = node
            continue
        if not isinstance(node, MappingNode):
            continue
        found = _find(node, str(part))
        if found is None:
            continue
        key_node, node = found
    if key_node is None:
        return Span(0, 0, 0, 1) if not isinstance(root, ScalarNode) else _span(root)
    if key or not isinstance(node, ScalarNode) or node.value == "":
        return _span(key_node)
    return _span(node)


def _duplicates(node: Node, out: list[Problem]) -> None:
    # PyYAML keeps the last of two equal keys without a word; YAML forbids them.
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                if key_node.value in seen:
                    out.append(Problem(_span(key_node), f"duplicate key `{key_node.value}`: remove one of them"))
                seen.add(key_node.value)
            _duplicates(value_node, out)


def analyse(text: str) -> Analysis:
    """Parse and check the text; every problem found, with its span. A text is parsed once
    per model: a document version's diagnostics, checks, code actions, hover and commands
    share the result, which they must not change."""
    return _analyse(text, _model)


@lru_cache(maxsize=16)
def _analyse(text: str, model: type[ProjectFile]) -> Analysis:
    result = Analysis()
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line, mark.column) if mark is not None else (0, 0)
        what = exc.problem or exc.context or "syntax error"
        if exc.context and exc.context_mark is not None and exc.problem:
            what += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        result.problems.append(Problem(Span(line, col, line, col + 1), f"not valid YAML: {what}"))
        return result
    except yaml.YAMLError as exc:
        result.problems.append(Problem(Span(0, 0, 0, 1), f"not valid YAML: {exc}"))
        return result
    finally:
        loader.dispose()
    result.root = root
    if data is None:
        data = {}
    if not isinstance(data, dict):
        span = _span(root) if root is not None else Span(0, 0, 0, 1)
        result.problems.append(Problem(span, "codeforge.yaml must be a mapping of keys, e.g. `project: my-app`"))
        return result
    if root is not None:
        _duplicates(root, result.problems)
    try:
        result.model = model.model_validate(data)
    except ValidationError as exc:
        for loc, problem in project_file_problems(exc.errors(), model):
            span = locate(root, loc, key=problem.message.startswith("unknown key"))
            result.problems.append(Problem(span, f"{problem.message}: {problem.fix}"))
    return result


@cache
def project_schema() -> dict[str, Any]:
    return _model.model_json_schema()


def resolve_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a $ref; of an anyOf, the member that is an object (keys live there)."""
    root = project_schema()
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        members = [resolve_schema(m) for m in schema["anyOf"]]
        objects = [m for m in members if m.get("type") == "object"]
        merged = dict(objects[0]) if objects else {}
        merged.update((k, v) for k, v in schema.items() if k != "anyOf")
        merged["x-members"] = members
        return merged
    return schema


def schema_at(path: list[str]) -> dict[str, Any] | None:
    """The schema of the value at a key path; None when the path leads nowhere."""
    schema = resolve_schema(project_schema())
    for key in path:
        props = schema.get("properties", {})
        if key in props:
            schema = resolve_schema(props[key])
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = resolve_schema(schema["additionalProperties"])
        else:
            return None
    return schema


_KEY_LINE = re.compile(r"^(\s*)([^\s#:][^:#]*?)\s*:(\s.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _parents(lines: list[str], line_no: int, indent: int) -> list[str]:
    """Keys of the block mappings enclosing a line at this indentation, outermost first."""
    path: list[str] = []
    for i in range(line_no - 1, -1, -1):
        text = lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        ind = _indent(text)
        if ind < indent:
            m = _KEY_LINE.match(text)
            if m is None:
                break
            path.insert(0, m.group(2).strip().strip("'\""))
            indent = ind
            if ind == 0:
                break
    return path


@dataclass(frozen=True)
class CursorContext:
    """Where the cursor is: in a key (path = enclosing keys) or in a value (path ends with
    its key); `typed` is the word typed so far; `siblings` are keys already in that block."""

    path: list[str]
    in_value: bool
    typed: str
    siblings: frozenset[str]


def cursor_context(text: str, line_no: int, column: int) -> CursorContext:
    """Works on the text line by line, so it keeps working while the YAML is half typed."""
    lines = text.split("\n")
    line = lines[line_no] if line_no < len(lines) else ""
    before = line[:column]
    indent = _indent(before) if before.strip() else column
    parents = _parents(lines, line_no, indent)
    if ":" in before:
        key, _, value = before.partition(":")
        return CursorContext([*parents, key.strip().strip("'\"")], True, value.strip(), frozenset())
    siblings: set[str] = set()
    for i, other in enumerate(lines):
        m = _KEY_LINE.match(other) if i != line_no and _indent(other) == indent else None
        if m is not None and _parents(lines, i, indent) == parents:
            siblings.add(m.group(2).strip())
    return CursorContext(parents, False, before.strip(), frozenset(siblings))


def key_at(text: str, line_no: int, column: int) -> tuple[list[str], Span] | None:
    """The key path of the key under the cursor, and the key's span, for hover."""
    lines = text.split("\n")
    if line_no >= len(lines):
        return None
    line = lines[line_no]
    m = _KEY_LINE.match(line)
    if m is None:
        return None
    start = m.start(2)
    end = start + len(m.group(2).rstrip())
    if not start <= column <= end:
        return None
    key = m.group(2).strip().strip("'\"")
    return [*_parents(lines, line_no, _indent(line)), key], Span(line_no, start, line_no, end)
