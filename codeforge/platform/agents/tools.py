"""The agents' tools: what a model may do in its sandbox, with the JSON Schemas it is offered.

Every tool answers with text for the model. A mistake (a bad argument, a path outside the
workspace, search text that is not in the file, a patch that does not apply) is answered as
"error: …" in one line or a few, saying what to do instead: the model reads it and tries again.
Nothing is raised to the loop except cancellation (CommandCancelled)."""

from __future__ import annotations

import difflib
import logging
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import CodeForgeError
from codeforge.changes import HunkConflict, PatchError, apply_change, parse_unified

from .sandbox import CommandResult, Sandbox

__all__ = [
    "MAX_READ_BYTES",
    "MAX_READ_LINES",
    "TOOLS",
    "Tool",
    "ToolEnv",
    "ToolError",
    "run_tool",
    "schemas",
]

log = logging.getLogger(__name__)

MAX_READ_LINES = 400  # per read_file answer; the rest is read with start_line
MAX_READ_BYTES = 40_000
MAX_SEARCH_RESULTS = 100
MAX_SYMBOLS = 200
MAX_WRITE_BYTES = 1_000_000
MAX_COMMAND_TIMEOUT = 1800.0


@dataclass
class ToolEnv:
    """What a tool works with during one run."""

    sandbox: Sandbox
    repo_map: Any | None = None  # a context.RepoMap over sandbox.root, told about every edit
    test_command: str = "python -m pytest -q"
    command_timeout: float = 120.0
    cancelled: Callable[[], bool] = field(default=lambda: False)


class ToolError(Exception):
    """A mistake the model can correct; its message is the tool's answer after "error: "."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments
    run: Callable[[dict[str, Any], ToolEnv], str]  # checks the arguments; never raises but on cancel

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools=` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


# ---- arguments --------------------------------------------------------------------------


def _check(name: str, parameters: dict[str, Any], args: Any) -> dict[str, Any]:
    """The arguments, checked against the schema (integers given as digits are taken)."""
    props: dict[str, Any] = parameters.get("properties", {})
    takes = ", ".join(props) or "no arguments"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ToolError(f"{name} takes a JSON object of arguments ({takes}), not {type(args).__name__}")
    for key in args:
        if key not in props:
            raise ToolError(f"{name} has no argument `{key}`; it takes {takes}")
    for key in parameters.get("required", []):
        if args.get(key) is None:
            raise ToolError(f"{name} needs the argument `{key}` ({props[key].get('description', '')})")
    out: dict[str, Any] = {}
    for key, value in args.items():
        if value is None:
            continue
        kind = props[key].get("type")
        if kind == "integer":
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ToolError(f"{name}: `{key}` must be a whole number, not {value!r:.40}")
        elif kind == "number":
            if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d*)?\s*", value):
                value = float(value)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ToolError(f"{name}: `{key}` must be a number, not {value!r:.40}")
        elif kind == "string" and not isinstance(value, str):
            raise ToolError(f"{name}: `{key}` must be a string, not {type(value).__name__}")
        elif kind == "array":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ToolError(f"{name}: `{key}` must be a list of strings")
        out[key] = value
    return out


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> Callable[..., Tool]:
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    def wrap(body: Callable[[dict[str, Any], ToolEnv], str]) -> Tool:
        def run(args: dict[str, Any], env: ToolEnv) -> str:
            try:
                return body(_check(name, parameters, args), env)
            except ToolError as exc:
                return f"error: {exc}"
            except CodeForgeError as exc:  # OutsideWorkspace and the like: one line with a fix
                return f"error: {exc.message}"
            except (HunkConflict, PatchError) as exc:
                return f"error: {exc}"
            except (OSError, UnicodeError, ValueError, RecursionError, MemoryError) as exc:
                return f"error: {name} failed: {exc}"

        return Tool(name, description, parameters, run)

    return wrap


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


# ---- files ------------------------------------------------------------------------------


def _existing(env: ToolEnv, path: str) -> Path:
    full = env.sandbox.resolve(path)
    if not full.exists():
        near = difflib.get_close_matches(path.strip().lstrip("./"), env.sandbox.files(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else "; use search or list_symbols to find files"
        raise ToolError(f"no file `{path}` in the workspace{hint}")
    return full


def _read_text(env: ToolEnv, path: str) -> tuple[Path, str]:
    full = _existing(env, path)
    if full.is_dir():
        raise ToolError(f"`{path}` is a folder, not a file")
    data = full.read_bytes()
    if b"\0" in data[:8192]:
        raise ToolError(f"`{path}` is a binary file")
    try:
        return full, data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"`{path}` is not UTF-8 text") from None


def _write(env: ToolEnv, full: Path, text: str) -> None:
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(text.encode("utf-8"))
    _mapped(env, [full])


def _mapped(env: ToolEnv, paths: Iterable[Path]) -> None:
    if env.repo_map is None:
        return
    try:
        env.repo_map.update([env.sandbox.relative(p) for p in paths])
    except Exception:  # a map that cannot parse a half-written file must not fail the edit
        log.warning("the codebase map could not take the edit of %s", list(paths), exc_info=True)


def _numbered(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines) - 1))
    return "\n".join(f"{n:>{width}}\t{line}" for n, line in enumerate(lines, first))


@_tool(
    "read_file",
    f"Read a text file of the workspace with line numbers (at most {MAX_READ_LINES} lines at a time; give "
    "start_line/end_line for a part). A folder's files are listed.",
    {
        "path": _string("Workspace-relative path of the file."),
        "start_line": _integer("First line to show (1-based)."),
        "end_line": _integer("Last line to show (inclusive)."),
    },
    ["path"],
)
def read_file(args: dict[str, Any], env: ToolEnv) -> str:
    path: str = args["path"]
    full = _existing(env, path)
    if full.is_dir():
        files = env.sandbox.files(path)
        shown = files[:MAX_SEARCH_RESULTS]
        more = f"\n[{len(files) - len(shown)} more files]" if len(files) > len(shown) else ""
        return f"`{path}` is a folder; its files:\n" + "\n".join(shown) + more
    _, text = _read_text(env, path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    start = args.get("start_line", 1)
    end = args.get("end_line", total)
    if start < 1:
        raise ToolError("read_file: `start_line` counts from 1")
    if total == 0:
        return f"{path} is empty"
    if start > total:
        raise ToolError(f"read_file: `start_line` {start} is past the end: {path} has {total} lines")
    if end < start:
        raise ToolError(f"read_file: `end_line` {end} is before `start_line` {start}")
    asked = min(end, total)
    end = min(asked, start + MAX_READ_LINES - 1)
    chosen = [line.rstrip("\r") for line in lines[start - 1 : end]]
    size = 0
    for i, line in enumerate(chosen):
        size += len(line) + 8
        if size > MAX_READ_BYTES and i:
            chosen, end = chosen[:i], start + i - 1
            break
    body = _numbered(chosen, start)
    header = f"{path} (lines {start}-{end} of {total})" if (start, end) != (1, total) else f"{path} ({total} lines)"
    rest = f"\n[lines {end + 1}-{asked} not shown: read them with start_line={end + 1}]" if end < asked else ""
    return f"{header}\n{body}{rest}"


@_tool(
    "search",
    "Search the workspace's files for a regular expression (Python syntax); answers path:line: text.",
    {
        "pattern": _string("Regular expression to look for, line by line."),
        "path": _string("Only this file or folder (workspace-relative)."),
    },
    ["pattern"],
)
def search(args: dict[str, Any], env: ToolEnv) -> str:
    try:
        regex = re.compile(args["pattern"])
    except re.error as exc:
        raise ToolError(f"search: `pattern` is not a valid regular expression: {exc}") from None
    where = args.get("path", "")
    if where:
        _existing(env, where)
    hits: list[str] = []
    count = 0
    for rel in env.sandbox.files(where):
        try:
            data = (env.sandbox.root / rel).read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192] or len(data) > 4_000_000:
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            if regex.search(line):
                count += 1
                if len(hits) < MAX_SEARCH_RESULTS:
                    text = line.rstrip("\r").strip()
                    hits.append(f"{rel}:{number}: {text[:200]}{'…' if len(text) > 200 else ''}")
    if not hits:
        return f"no matches for {args['pattern']!r}" + (f" in {where}" if where else "")
    more = (
        f"\n[{count - len(hits)} more matches not shown: narrow the pattern or give a path]"
        if count > len(hits)
        else ""
    )
    return "\n".join(hits) + more


_DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?(?P<kind>def|class)\s+(?P<name>\w+)")


@_tool(
    "list_symbols",
    "List the definitions (functions, classes, methods, …) of a file or folder, or of the whole workspace; "
    "`query` keeps the names that contain it.",
    {
        "path": _string("A file or folder (workspace-relative); the whole workspace when left out."),
        "query": _string("Part of a name to look for (case-insensitive)."),
    },
    [],
)
def list_symbols(args: dict[str, Any], env: ToolEnv) -> str:
    path = args.get("path", "")
    query = args.get("query", "")
    if path:
        _existing(env, path)
    rows: list[str] = []
    if env.repo_map is not None:
        rel = env.sandbox.relative(env.sandbox.resolve(path)) if path else None
        for symbol in env.repo_map.symbols(None if rel in (None, ".") else rel, query):
            rows.append(f"{symbol.path}:{symbol.line} {symbol.kind} {symbol.qualname}: {symbol.signature.strip()}")
    else:  # no map in this run: Python definitions by their lines
        for rel in env.sandbox.files(path):
            if not rel.endswith(".py"):
                continue
            text = (env.sandbox.root / rel).read_text(encoding="utf-8", errors="replace")
            for number, line in enumerate(text.split("\n"), 1):
                match = _DEF.match(line)
                if match and query.lower() in match["name"].lower():
                    kind = "class" if match["kind"] == "class" else "method" if match["indent"] else "function"
                    rows.append(f"{rel}:{number} {kind} {match['name']}: {line.strip()}")
    if not rows:
        return "no definitions found" + (f" matching {query!r}" if query else "") + (f" in {path}" if path else "")
    shown = rows[:MAX_SYMBOLS]
    more = f"\n[{len(rows) - len(shown)} more: give a path or a query]" if len(rows) > len(shown) else ""
    return "\n".join(shown) + more


# ---- edits ------------------------------------------------------------------------------

_LINE_NUMBER = re.compile(r"^\s*\d+\t")


def _near(text: str, search: str) -> str:
    """Where text like `search` is in the file, to show the model what it should have copied."""
    lines = text.split("\n")
    want = search.strip("\n").split("\n")
    n = len(want)
    target = "\n".join(w.strip() for w in want)
    best: list[tuple[float, int]] = []
    if len(lines) <= 20_000:
        for i in range(max(1, len(lines) - n + 1)):
            window = "\n".join(x.strip() for x in lines[i : i + n])
            matcher = difflib.SequenceMatcher(None, window, target, autojunk=False)
            if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
                continue
            best.append((matcher.ratio(), i))
    best = sorted((b for b in best if b[0] >= 0.6), reverse=True)[:2]
    if not best:
        return "nothing similar is in the file: read it again"
    shown = [f"lines {i + 1}-{i + n} are similar:\n" + _numbered(lines[i : i + n], i + 1) for _, i in best]
    return "\n".join(shown)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


@_tool(
    "edit",
    "Replace text in a file: `search` must be copied exactly from the file (whitespace included, without "
    "read_file's line numbers) and occur exactly once; add surrounding lines to make it unique.",
    {
        "path": _string("Workspace-relative path of the file."),
        "search": _string("The exact text to replace."),
        "replace": _string("The text to put in its place."),
    },
    ["path", "search", "replace"],
)
def edit(args: dict[str, Any], env: ToolEnv) -> str:
    path, search_text, replace = args["path"], args["search"], args["replace"]
    if search_text == "":
        raise ToolError("edit: `search` is empty; to create or overwrite a whole file use write_file")
    if search_text == replace:
        raise ToolError("edit: `search` and `replace` are the same: nothing would change")
    full, text = _read_text(env, path)
    if "\r\n" in text and "\r\n" not in search_text:  # the model writes \n; the file has CRLF
        search_text, replace = search_text.replace("\n", "\r\n"), replace.replace("\n", "\r\n")
    count = text.count(search_text)
    if count == 0:
        if all(_LINE_NUMBER.match(x) for x in search_text.strip("\n").split("\n")):
            raise ToolError("edit: `search` holds read_file's line numbers; give the file's text without them")
        raise ToolError(f"edit: the search text is not in {path}; " + _near(text, search_text))
    if count > 1:
        at: list[int] = []
        start = 0
        while (found := text.find(search_text, start)) >= 0 and len(at) < 10:
            at.append(found)
            start = found + 1
        lines = [str(_line_of(text, i)) for i in at]
        raise ToolError(
            f"edit: the search text occurs {count} times in {path} (at lines {', '.join(lines)}); "
            "include more of the surrounding lines so that it occurs once"
        )
    index = text.index(search_text)
    new = text[:index] + replace + text[index + len(search_text) :]
    _write(env, full, new)
    first = _line_of(new, index)
    last = _line_of(new, index + len(replace)) if replace else first
    shown = new.split("\n")[max(0, first - 3) : last + 2]
    return f"edited {path}; lines {first}-{last} now read:\n" + _numbered(
        [x.rstrip("\r") for x in shown], max(1, first - 2)
    )


@_tool(
    "apply_patch",
    "Apply a unified diff (--- a/path, +++ b/path, @@ hunks; /dev/null for a new or deleted file) to the "
    "workspace: all of it, or nothing when a hunk does not apply.",
    {"patch": _string("The unified diff.")},
    ["patch"],
)
def apply_patch(args: dict[str, Any], env: ToolEnv) -> str:
    changes = parse_unified(args["patch"])
    if not changes:
        raise ToolError(
            "apply_patch: no file changes in the patch; give a unified diff with `--- a/path` and "
            "`+++ b/path` lines and @@ hunks"
        )
    results: list[tuple[Path, str | None, str]] = []
    for change in changes:
        full = env.sandbox.resolve(change.path)
        if full.is_dir():
            raise ToolError(f"apply_patch: `{change.path}` is a folder")
        exists = full.exists()
        if change.status == "added" and exists and full.read_bytes():
            raise ToolError(f"apply_patch: `{change.path}` already exists; patch it (--- a/{change.path}) instead")
        if change.status != "added" and not exists:
            raise ToolError(
                f"apply_patch: no file `{change.path}` to patch; use /dev/null as the old side for a new file"
            )
        current = _read_text(env, change.path)[1] if exists and change.status != "added" else None
        try:
            result = apply_change(current, change)
        except HunkConflict as exc:
            raise ToolError(
                f"apply_patch: nothing was applied: {exc}; read the file again and patch its current text"
            ) from None
        hunks = len(change.hunks)
        results.append((full, result, f"{change.path} ({change.status}, {hunks} hunk{'s' if hunks != 1 else ''})"))
    for full, result, _ in results:
        if result is None:
            full.unlink()
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_bytes(result.encode("utf-8"))
    _mapped(env, [full for full, _, _ in results])
    return "patched " + ", ".join(summary for _, _, summary in results)


@_tool(
    "write_file",
    "Write a whole file: create a new one or replace all of an existing one's text.",
    {
        "path": _string("Workspace-relative path of the file."),
        "content": _string("The file's complete text."),
    },
    ["path", "content"],
)
def write_file(args: dict[str, Any], env: ToolEnv) -> str:
    path, content = args["path"], args["content"]
    if len(content.encode("utf-8")) > MAX_WRITE_BYTES:
        raise ToolError(f"write_file: `content` is over {MAX_WRITE_BYTES} bytes")
    full = env.sandbox.resolve(path)
    if full.is_dir():
        raise ToolError(f"write_file: `{path}` is a folder")
    existed = full.exists()
    _write(env, full, content)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    return f"wrote {path} ({lines} lines, {'replaced' if existed else 'new file'})"


# ---- commands ---------------------------------------------------------------------------


def _report(result: CommandResult, timeout: float) -> str:
    if result.timed_out:
        return f"timed out after {timeout:g} s (killed)\n{result.output}"
    return f"exit code {result.exit_code}\n{result.output}"


@_tool(
    "run",
    "Run a shell command in the workspace folder (a sandbox: no network, your changes only in your copy).",
    {
        "command": _string("The command line (sh)."),
        "timeout_s": {"type": "number", "description": "Seconds before it is killed."},
    },
    ["command"],
)
def run(args: dict[str, Any], env: ToolEnv) -> str:
    command = args["command"]
    if not command.strip():
        raise ToolError("run: `command` is empty")
    timeout = float(args.get("timeout_s", env.command_timeout))
    if timeout <= 0:
        raise ToolError("run: `timeout_s` must be more than 0")
    timeout = min(timeout, MAX_COMMAND_TIMEOUT)
    return _report(env.sandbox.run(command, timeout=timeout, cancelled=env.cancelled), timeout)


@_tool(
    "run_tests",
    "Run the project's tests (all, or the given test ids/files) and see the result.",
    {
        "tests": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'Test ids or files, e.g. "tests/test_x.py::test_y".',
        }
    },
    [],
)
def run_tests(args: dict[str, Any], env: ToolEnv) -> str:
    tests: list[str] = args.get("tests", [])
    command = " ".join([env.test_command, *(shlex.quote(t) for t in tests if t.strip())])
    result = env.sandbox.run(command, timeout=env.command_timeout, cancelled=env.cancelled)
    head = "tests passed" if result.exit_code == 0 and not result.timed_out else "tests failed"
    return f"{head} ({command})\n{_report(result, env.command_timeout)}"


@_tool(
    "finish",
    "Finish the task: say what you changed and why, and how it was checked.",
    {"summary": _string("What was done.")},
    ["summary"],
)
def finish(args: dict[str, Any], env: ToolEnv) -> str:
    summary = args["summary"].strip()
    if not summary:
        raise ToolError("finish: `summary` is empty; say what you changed")
    return summary


TOOLS: dict[str, Tool] = {
    t.name: t for t in (read_file, search, list_symbols, edit, apply_patch, write_file, run, run_tests, finish)
}


def schemas(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The OpenAI `tools=` entries of the named tools (all when None), in the order given."""
    chosen = list(TOOLS) if names is None else list(names)
    unknown = [n for n in chosen if n not in TOOLS]
    if unknown:
        raise KeyError(f"unknown tool(s) {unknown}; the tools are {list(TOOLS)}")
    return [TOOLS[n].schema() for n in chosen]


def run_tool(name: str, args: Any, env: ToolEnv, allowed: Iterable[str] | None = None) -> str:
    """A tool call the model made, answered; an unknown (or not allowed) tool is an error answer."""
    offered = list(TOOLS) if allowed is None else list(allowed)
    if name not in TOOLS or name not in offered:
        return f"error: there is no tool `{name}`; the tools are {', '.join(offered)}"
    return TOOLS[name].run(args, env)  # a non-object (None: malformed JSON) is answered there
