"""The plain-text format for models without tool calling (Aider's search-and-replace blocks).

A reply holds, among any prose:

    path/to/file.py
    <<<<<<< SEARCH
    the exact lines to replace
    =======
    the lines to put there
    >>>>>>> REPLACE

(optionally inside ``` fences), ```run fenced blocks of shell commands, and a final
`DONE: summary` line. `parse` turns it into actions for the loop, which runs them with the
same tools as tool calls (`as_tool_call`). A malformed block raises FormatError, whose message
the loop sends back to the model; nothing of that reply is carried out then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from codeforge.changes import diff_texts, unified

__all__ = [
    "INSTRUCTIONS",
    "NOTHING_FOUND",
    "Action",
    "Done",
    "Edit",
    "FormatError",
    "Run",
    "as_tool_call",
    "parse",
]


@dataclass(frozen=True)
class Edit:
    path: str
    search: str  # "" creates the file (or replaces an empty one)
    replace: str


@dataclass(frozen=True)
class Run:
    command: str


@dataclass(frozen=True)
class Done:
    summary: str


Action = Edit | Run | Done


class FormatError(ValueError):
    """A reply that does not follow the format; the message says where and how to fix it."""


INSTRUCTIONS = """\
You cannot call tools: act by writing blocks in your reply. To change a file, write its path \
alone on a line, then a SEARCH/REPLACE block: the SEARCH part copies the file's current lines \
exactly (every space, no line numbers) and must occur once in the file; the REPLACE part is what \
goes there. An empty SEARCH part creates a new file. To run a shell command in the workspace \
(tests, a script), put it in a ```run block; you will see its output in the next message. When \
the task is complete, end your reply with a line `DONE: <what you changed and how you checked it>`. \
For example:

src/calc.py
<<<<<<< SEARCH
def add(a, b):
    return a - b
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE

```run
python -m pytest -q tests/test_calc.py
```

DONE: add() returned a - b; it returns a + b now and tests/test_calc.py passes.\
"""

NOTHING_FOUND = (
    "error: your reply has no SEARCH/REPLACE block, no ```run block and no DONE: line; "
    "act with those blocks (see the instructions), or end with `DONE: summary` if the task is complete"
)

_SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_DONE = re.compile(r"^\s*\**DONE\**\s*:\s*(?P<summary>.*)$", re.IGNORECASE)


def _path_of(line: str) -> str | None:
    """A line that names a file: `path`, **path**, "File: path", path: … ; None for prose."""
    text = line.strip()
    text = re.sub(r"^(?:#+\s*|[-*]\s+)", "", text)  # a heading or a list item
    text = re.sub(r"^(?:file(?:name)?|path)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip("*`'\" ").rstrip(":").strip("*`'\" ")
    if not text or any(c.isspace() for c in text) or text.startswith(("<", "=", ">")):
        return None
    return text


def _fenced_path(info: str) -> str | None:
    # "```python" is a language; "```src/app.py" names the file.
    return _path_of(info) if ("." in info or "/" in info) and " " not in info.strip() else None


def parse(text: str) -> list[Action]:
    """The actions of a reply, in order. Prose around them is ignored."""
    lines = text.replace("\r\n", "\n").split("\n")
    actions: list[Action] = []
    last_path: str | None = None
    blocks = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SEARCH.match(line):
            blocks += 1
            path = _block_path(lines, i) or last_path
            if path is None:
                raise FormatError(
                    f"SEARCH/REPLACE block {blocks} has no file path: put the file's path alone on the line "
                    "before `<<<<<<< SEARCH`, then send the block again"
                )
            search, i = _section(lines, i + 1, _DIVIDER, blocks, path, "=======")
            replace, i = _section(lines, i + 1, _REPLACE, blocks, path, ">>>>>>> REPLACE")
            actions.append(Edit(path, search, replace))
            last_path = path
        elif _DIVIDER.match(line) or _REPLACE.match(line):
            raise FormatError(
                f"line {i + 1} ({line.strip()}) is outside a block: every block starts with `<<<<<<< SEARCH` "
                "and has one `=======` and one `>>>>>>> REPLACE`"
            )
        elif (fence := _FENCE.match(line)) and fence["info"].lower() in ("run", "sh run", "bash run", "shell run"):
            body: list[str] = []
            i += 1
            while i < len(lines) and not _closes(lines[i], fence[1]):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise FormatError("a ```run block is not closed: end it with a line of ``` alone")
            command = "\n".join(body).strip()
            if not command:
                raise FormatError("a ```run block is empty: put the command to run inside it")
            actions.append(Run(command))
        elif match := _DONE.match(line):
            rest = [match["summary"], *lines[i + 1 :]]
            summary = "\n".join(rest).strip().strip("`").strip()
            actions.append(Done(summary or "done"))
            break
        i += 1
    return actions


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener[0] * 3) and set(stripped) == {opener[0]}


def _block_path(lines: list[str], at: int) -> str | None:
    """The path written just before a `<<<<<<< SEARCH` line (above a fence line, if any)."""
    j = at - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0:
        return None
    fence = _FENCE.match(lines[j])
    if fence:
        named = _fenced_path(fence["info"])
        if named:
            return named
        j -= 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j < 0:
            return None
    return _path_of(lines[j])


def _section(lines: list[str], start: int, end: re.Pattern[str], block: int, path: str, marker: str) -> tuple[str, int]:
    body: list[str] = []
    i = start
    while i < len(lines) and not end.match(lines[i]):
        if _SEARCH.match(lines[i]) or (end is _DIVIDER and _REPLACE.match(lines[i])):
            break
        body.append(lines[i])
        i += 1
    if i >= len(lines) or not end.match(lines[i]):
        raise FormatError(
            f"SEARCH/REPLACE block {block} ({path}) has no `{marker}` line where it should: each block is "
            "`<<<<<<< SEARCH`, the old lines, `=======`, the new lines, `>>>>>>> REPLACE`; send it again whole"
        )
    return ("\n".join(body) + "\n" if body else ""), i


def as_tool_call(action: Action) -> tuple[str, dict[str, Any]]:
    """The tool that carries an action out, and its arguments (the loop runs it like a call).
    An empty SEARCH becomes apply_patch of a new file, which an existing file with text refuses."""
    if isinstance(action, Edit):
        if action.search == "":
            # A new file, as a patch from /dev/null: it refuses to overwrite a file that has text.
            change = diff_texts(action.path, None, action.replace)
            if change is None or not change.hunks:
                return "write_file", {"path": action.path, "content": action.replace}
            return "apply_patch", {"patch": unified([change])}
        return "edit", {"path": action.path, "search": action.search, "replace": action.replace}
    if isinstance(action, Run):
        return "run", {"command": action.command}
    return "finish", {"summary": action.summary}
