"""Which agent code actions a place in a source file gets, read from its text alone.

- each diagnostic of the request (another server's: a linter, a type checker, a test
  runner's) → "Fix with agent: <message>" (`codeforge.agents.fix`, a quick fix on it);
- a definition line (`def`/`class` in Python, `function`, `func`, `fn`) → "Write tests for
  `name` with agent" (`codeforge.agents.tests`); a pytest test's line in a test file → "Fix
  failing test `name` with agent" (`codeforge.agents.fix` with its test id);
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
from pathlib import Path, PurePosixPath
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

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
    "pytest_id",
    "workspace_folder",
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


_CLASS = re.compile(r"^\s*class\s+([A-Za-z_]\w*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def pytest_id(lines: list[str], line: int, path: str) -> str | None:
    """The pytest id of the test defined on `line` of `path` (`tests/test_x.py::TestY::test_z`),
    None when it is no test there (not a test file, not a `test*` function, a nested one)."""
    name = PurePosixPath(path).name
    if not (name.startswith("test_") or name.endswith("_test.py")) or not name.endswith(".py"):
        return None
    function = definition_name(lines[line]) if 0 <= line < len(lines) else None
    if not function or not function.startswith("test") or _CLASS.match(lines[line]):
        return None
    parts, indent = [function], _indent(lines[line])
    for text in reversed(lines[:line]):
        if indent == 0:
            break
        if not text.strip() or _indent(text) >= indent:
            continue
        match = _CLASS.match(text)
        if match is None:
            return None  # defined inside a function: pytest does not collect it
        parts.insert(0, match.group(1))
        indent = _indent(text)
    return "::".join([path, *parts])


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
    path: str  # workspace-relative ("" outside the workspace)


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
    lines = text.splitlines()
    return _Place(request.uri, suffix, lines, rng.start.line, end, selected, _relative(ls, request.uri))


def workspace_folder(ls: CodeForgeSession, path: str | None = None) -> Path | None:
    """The workspace folder holding `path` (an editor may have several; the innermost), else
    the first; None when the editor opened none."""
    if path:
        try:
            folders = [Path(p) for f in ls.workspace.folders.values() if (p := to_fs_path(f.uri))]
        except RuntimeError:  # not initialized
            folders = []
        resolved = Path(path).resolve()
        inside = [f for f in folders if resolved.is_relative_to(f.resolve())]
        if inside:
            return max(inside, key=lambda f: len(f.resolve().parts))
    return ls.workspace_root()


def _relative(ls: CodeForgeSession, uri: str) -> str:
    fs_path = to_fs_path(uri)
    root = workspace_folder(ls, fs_path) if fs_path else None
    if root is None or not fs_path:
        return ""
    try:
        return Path(fs_path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""


def _fixes(request: CodeActionRequest) -> list[types.CodeAction]:
    out = []
    for diagnostic in request.diagnostics:
        # CodeForge's own diagnostics (codeforge.yaml's, production errors') bring their own fixes.
        if (diagnostic.source or "").startswith(DIAGNOSTIC_SOURCE) or not diagnostic.message.strip():
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
    test = pytest_id(place.lines, place.start, place.path) if name and place.path else None
    if test:  # a test: fixing it is what is wanted, not tests of it
        out.append(
            action(
                f"Fix failing test `{name}` with agent",
                FIX_COMMAND,
                {"uri": place.uri, "line": place.start, "test": test},
                kind=AGENT_KIND,
            )
        )
    elif name:
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
