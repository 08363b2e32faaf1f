"""Which agent code actions a place in a source file gets, read from its text alone.

- each diagnostic of the request (another server's: a linter, a type checker, a test
  runner's) → "Fix with agent: <message>" (`codeforge.agents.fix`, a quick fix on it);
- a definition line (`def`/`class` in Python, `function`, `func`, `fn`) → "Write tests for
  `name` with agent" (`codeforge.agents.tests`);
- a non-empty selection → "Refactor selection with agent" (`codeforge.agents.refactor`);
- a comment line → "Build the feature this comment describes" (`codeforge.agents.feature`),
  the comment being the block of comment lines around it.

Not in codeforge.yaml (its own quick fixes are the platform's), and not on this server's own
diagnostics (a pending migration or a variable not set is no bug for an agent to fix).
Lines are 0-based, as the editor's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lsprotocol import types

from codeforge.lsp.contributions import DIAGNOSTIC_SOURCE, CodeActionRequest
from codeforge.lsp.features.code_actions import QUICKFIX, action
from codeforge.lsp.project_yaml import is_project_file
from codeforge.lsp.reader import read_text
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "AGENT_KIND",
    "FEATURE_COMMAND",
    "FIX_COMMAND",
    "REFACTOR_COMMAND",
    "TESTS_COMMAND",
    "agent_actions",
    "comment_block",
    "definition_name",
]

FIX_COMMAND = "codeforge.agents.fix"
TESTS_COMMAND = "codeforge.agents.tests"
REFACTOR_COMMAND = "codeforge.agents.refactor"
FEATURE_COMMAND = "codeforge.agents.feature"
# Editors list refactor.* actions in their refactor menu as well as in the light bulb.
AGENT_KIND = "refactor.agent"
MAX_TITLE_MESSAGE = 80  # a diagnostic's message in an action's title, cut to this
MAX_COMMENT_LINES = 40  # a comment block longer than this is cut (its start is the feature)

_DEFINITIONS = (
    re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)"),
    re.compile(r"^\s*class\s+([A-Za-z_]\w*)"),
    re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)"),
    re.compile(r"^\s*func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)"),
    re.compile(
        r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+([A-Za-z_]\w*)"
    ),
)

# Line-comment markers by file suffix; others get `#` and `//` (most scripting and C-like
# languages). `#` is no comment in C (the preprocessor) nor `--` outside SQL, Lua, Haskell.
_HASH = ("#",)
_SLASH = ("//",)
_DASH = ("--",)
_MARKERS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (".py", ".pyi", ".sh", ".bash", ".rb", ".pl", ".r", ".toml", ".yaml", ".yml", ".cfg", ".ini"), _HASH
    ),
    **dict.fromkeys(
        (
            ".c",
            ".h",
            ".cc",
            ".cpp",
            ".hpp",
            ".cs",
            ".java",
            ".js",
            ".jsx",
            ".ts",
            ".tsx",
            ".go",
            ".rs",
            ".kt",
            ".swift",
            ".scala",
            ".dart",
        ),
        _SLASH,
    ),
    **dict.fromkeys((".sql", ".lua", ".hs"), _DASH),
}
_DEFAULT_MARKERS = ("#", "//")
_NOT_PROSE = re.compile(r"^(?:!|\s*(?:type:|noqa|pragma|fmt:|pylint:|mypy:|-\*-|eslint|@ts-|nolint|go:))")


def definition_name(line: str) -> str | None:
    """The name a definition line defines (`def f`, `class C`, `function f`, `func f`, `fn f`)."""
    for pattern in _DEFINITIONS:
        if match := pattern.match(line):
            return match.group(1)
    return None


def _comment_text(line: str, markers: tuple[str, ...]) -> str | None:
    """The prose of a comment line, None when the line is no comment (or a pragma)."""
    stripped = line.strip()
    for marker in markers:
        if stripped.startswith(marker):
            text = stripped[len(marker) :]
            if marker == "#" and _NOT_PROSE.match(text):
                return None  # a shebang, a type-checker or linter pragma, an encoding line
            if marker == "//" and text.startswith("/"):
                text = text.lstrip("/")  # `///` doc comments
            return text.strip()
    return None


def comment_block(lines: list[str], line: int, suffix: str) -> tuple[int, int, str] | None:
    """The comment block around `line`: (first line, last line, its prose); None when the line
    is no comment or says nothing."""
    markers = _MARKERS.get(suffix.lower(), _DEFAULT_MARKERS)
    if not 0 <= line < len(lines) or _comment_text(lines[line], markers) is None:
        return None
    first = last = line
    while first > 0 and line - first < MAX_COMMENT_LINES and _comment_text(lines[first - 1], markers) is not None:
        first -= 1
    while (
        last + 1 < len(lines)
        and last - first + 1 < MAX_COMMENT_LINES
        and _comment_text(lines[last + 1], markers) is not None
    ):
        last += 1
    prose = "\n".join(t for i in range(first, last + 1) if (t := _comment_text(lines[i], markers)))
    return (first, last, prose) if prose.strip() else None


def _short(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "problem"
    return first if len(first) <= MAX_TITLE_MESSAGE else first[: MAX_TITLE_MESSAGE - 1] + "…"


@dataclass(frozen=True)
class _Place:
    uri: str
    suffix: str
    lines: list[str]
    start: int
    end: int
    selected: bool


def _place(ls: CodeForgeSession, request: CodeActionRequest) -> _Place | None:
    try:
        text = read_text(ls, request.uri)
    except Exception:  # a document that cannot be read gets no actions (never an error popup)
        return None
    rng = request.params.range
    selected = (rng.start.line, rng.start.character) != (rng.end.line, rng.end.character)
    end = rng.end.line
    if selected and rng.end.character == 0 and end > rng.start.line:
        end -= 1  # a selection of whole lines ends at the start of the next one
    suffix = PurePosixPath(request.uri).suffix
    return _Place(request.uri, suffix, text.splitlines(), rng.start.line, end, selected)


def _fixes(request: CodeActionRequest) -> list[types.CodeAction]:
    out = []
    for diagnostic in request.diagnostics:
        if diagnostic.source == DIAGNOSTIC_SOURCE or not diagnostic.message.strip():
            continue
        title = f"Fix with agent: {_short(diagnostic.message)}"
        argument: dict[str, Any] = {
            "uri": request.uri,
            "line": diagnostic.range.start.line,
            "end_line": max(diagnostic.range.end.line, diagnostic.range.start.line),
            "message": diagnostic.message
            + (
                f" ({diagnostic.source}{' ' + str(diagnostic.code) if diagnostic.code is not None else ''})"
                if diagnostic.source
                else ""
            ),
        }
        out.append(action(title, FIX_COMMAND, argument, kind=QUICKFIX, diagnostics=[diagnostic]))
    return out


def agent_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    """The agent actions for this request (the provider of `contribute`)."""
    if is_project_file(request.uri) or not request.uri.startswith("file:"):
        return []
    out = _fixes(request) if request.wants(QUICKFIX) else []
    if not request.wants(AGENT_KIND):
        return out
    place = _place(ls, request)
    if place is None:
        return out
    line_text = place.lines[place.start] if place.start < len(place.lines) else ""
    name = definition_name(line_text)
    if name:
        out.append(
            action(
                f"Write tests for `{name}` with agent",
                TESTS_COMMAND,
                {"uri": place.uri, "line": place.start},
                kind=AGENT_KIND,
            )
        )
    if place.selected:
        out.append(
            action(
                "Refactor selection with agent",
                REFACTOR_COMMAND,
                {"uri": place.uri, "line": place.start, "end_line": max(place.end, place.start)},
                kind=AGENT_KIND,
            )
        )
    block = comment_block(place.lines, place.start, place.suffix)
    if block is not None:
        first, last, _ = block
        out.append(
            action(
                "Build the feature this comment describes",
                FEATURE_COMMAND,
                {"uri": place.uri, "line": first, "end_line": last},
                kind=AGENT_KIND,
            )
        )
    return out
