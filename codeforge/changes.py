"""Change sets: the files an agent changed, as hunks a person can accept one by one.

Standard library only: the platform stores change sets, the language server turns them into
`WorkspaceEdit`s and the CLI prints them, and none of those should need more than this.

A text is handled as a list of *tokens*, one per line, each ending with its "\\n" except a last
line without one. Comparing tokens (not bare lines) makes a missing newline at the end of the
file a change of its own, as git shows it ("\\ No newline at end of file"), and keeps "\\r" in a
CRLF file's lines: a diff of a CRLF file applied to it gives back the same bytes.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "NO_NEWLINE",
    "FileChange",
    "Hunk",
    "HunkConflict",
    "PatchError",
    "apply_change",
    "apply_hunks",
    "diff_texts",
    "parse_unified",
    "sha256_text",
    "unified",
]

NO_NEWLINE = "\\ No newline at end of file"


@dataclass
class Hunk:
    """One hunk, the shape `collab.review_create` takes too. `lines` are unified-diff body lines
    (" ctx", "-old", "+new", without their newline); a line followed by NO_NEWLINE has none in
    the file. Starts are 1-based; a side with no lines starts at the line before it, as in
    `@@ -0,0 +1,3 @@` for a new file."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: list[str] = field(default_factory=list)

    def header(self) -> str:
        return f"@@ -{_range(self.old_start, self.old_lines)} +{_range(self.new_start, self.new_lines)} @@"


@dataclass
class FileChange:
    path: str  # workspace-relative, forward slashes
    status: Literal["modified", "added", "deleted"]
    hunks: list[Hunk]
    old_sha256: str = ""  # of the text the hunks apply to ("" when added, or unknown for a parsed patch)


class HunkConflict(Exception):
    """A hunk whose old lines are nowhere in the text. `index` is the hunk's 0-based position in
    the sequence given to `apply_hunks` (hunk ids shown to people count from 1)."""

    def __init__(self, path: str, index: int, reason: str) -> None:
        self.path = path
        self.index = index
        self.reason = reason
        super().__init__(f"{path or 'the file'}: hunk {index + 1} does not apply: {reason}")


class PatchError(ValueError):
    """Text that is not a unified diff this module can read; the message says which line."""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# ---- tokens -----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    # Not str.splitlines: it also splits at \r, \x0c, \u2028 and the like, which are content here.
    if not text:
        return []
    parts = text.split("\n")
    tokens = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        tokens.append(parts[-1])
    return tokens


def _body_lines(tag: str, tokens: Sequence[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        if token.endswith("\n"):
            out.append(tag + token[:-1])
        else:
            out += [tag + token, NO_NEWLINE]
    return out


def _sides(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """The old and new tokens of a hunk's body."""
    old: list[str] = []
    new: list[str] = []
    last: tuple[list[str], ...] = ()
    for line in lines:
        if line.startswith("\\"):
            for side in last:
                if side and side[-1].endswith("\n"):
                    side[-1] = side[-1][:-1]
            continue
        tag, token = line[:1], line[1:] + "\n"
        if tag == "-":
            old.append(token)
            last = (old,)
        elif tag == "+":
            new.append(token)
            last = (new,)
        else:  # " " or an empty context line whose space an editor trimmed
            old.append(token)
            new.append(token)
            last = (old, new)
    return old, new


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start},{count}"


# ---- diff -------------------------------------------------------------------------------


def diff_texts(path: str, old: str | None, new: str | None, *, context: int = 3) -> FileChange | None:
    """The change from `old` to `new` (None: the file does not exist on that side), or None when
    there is none."""
    if old == new or (old is None and new is None):
        return None
    a, b = _tokens(old or ""), _tokens(new or "")
    status: Literal["modified", "added", "deleted"] = (
        "added" if old is None else "deleted" if new is None else "modified"
    )
    hunks: list[Hunk] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines: list[str] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += _body_lines(" ", a[a1:a2])
                continue
            lines += _body_lines("-", a[a1:a2])
            lines += _body_lines("+", b[b1:b2])
        old_count, new_count = i2 - i1, j2 - j1
        hunks.append(
            Hunk(
                old_start=i1 + 1 if old_count else i1,
                old_lines=old_count,
                new_start=j1 + 1 if new_count else j1,
                new_lines=new_count,
                lines=lines,
            )
        )
    return FileChange(path=path, status=status, hunks=hunks, old_sha256="" if old is None else sha256_text(old))


# ---- apply ------------------------------------------------------------------------------

# How far a hunk's old lines may differ from the text and still be found, tried in order:
# exactly; ignoring line endings ("\r\n" against "\n", a last line without one); ignoring
# trailing whitespace. Leading whitespace always counts (indentation is syntax in Python).
_LEVELS: tuple[Callable[[str], str], ...] = (
    lambda t: t,
    lambda t: t.rstrip("\r\n"),
    lambda t: t.rstrip(),
)


def _find(tokens: list[str], old: list[str], expected: int, lowest: int) -> tuple[int, int] | None:
    """(position, level) of the occurrence of `old` nearest `expected` at or after `lowest`."""
    n = len(old)
    last = len(tokens) - n
    if last < lowest:
        return None
    for level, norm in enumerate(_LEVELS):
        want = [norm(t) for t in old]
        have = [norm(t) for t in tokens] if level else tokens
        best: int | None = None
        for pos in range(lowest, last + 1):
            if have[pos] == want[0] and have[pos : pos + n] == want:
                if best is None or abs(pos - expected) < abs(best - expected):
                    best = pos
                if pos >= expected:
                    break  # every later one is farther
        if best is not None:
            return best, level
    return None


def _adapt(new: list[str], replaced: list[str], tokens: list[str], at_end: bool) -> list[str]:
    """New lines placed by a loose match take the text's conventions: its line ends (CRLF or
    LF, whichever most of its lines have), and no newline added at the end of a text that had
    none."""
    crlf = sum(t.endswith("\r\n") for t in tokens) * 2 > sum(t.endswith("\n") for t in tokens)
    eol = "\r\n" if crlf else "\n"
    out = [t.rstrip("\r\n") + eol if t.endswith("\n") else t for t in new]
    if at_end and out and replaced and not replaced[-1].endswith("\n") and out[-1].endswith("\n"):
        out[-1] = out[-1].rstrip("\r\n")
    return out


def apply_hunks(text: str, hunks: Sequence[Hunk], *, reverse: bool = False, path: str = "") -> str:
    """`text` with the hunks applied (undone with reverse=True). Each hunk is looked for at its
    line (moved by what earlier hunks moved) and else at the nearest place its old lines occur,
    as `patch` does; HunkConflict when they occur nowhere after the previous hunk."""
    tokens = _tokens(text)
    offset = 0  # where the text's lines stand against the hunks' numbering so far
    lowest = 0  # hunks apply in order and never overlap
    for index, hunk in enumerate(hunks):
        old, new = _sides(hunk.lines)
        if reverse:
            old, new = new, old
        start, count = (hunk.new_start, hunk.new_lines) if reverse else (hunk.old_start, hunk.old_lines)
        expected = (start - 1 if count else start) + offset
        if not old:
            pos = min(max(expected, lowest), len(tokens))
            level = 0
        else:
            found = _find(tokens, old, max(expected, lowest), lowest)
            if found is None:
                first = old[0].rstrip("\r\n")
                raise HunkConflict(path, index, f"its old lines (from {first[:60]!r}) are not in the text")
            pos, level = found
        replaced = tokens[pos : pos + len(old)]
        if level:
            new = _adapt(new, replaced, tokens, pos + len(old) == len(tokens))
        tokens[pos : pos + len(old)] = new
        offset = pos - (start - 1 if count else start) + len(new) - len(old)
        lowest = pos + len(new)
    return "".join(tokens)


def apply_change(text: str | None, change: FileChange, *, reverse: bool = False) -> str | None:
    """The file after the change (None: the change deletes it, or, reversed, undoes its adding)."""
    result = apply_hunks(text or "", change.hunks, reverse=reverse, path=change.path)
    gone = change.status == ("added" if reverse else "deleted")
    if gone:
        if result:
            raise HunkConflict(
                change.path, max(len(change.hunks) - 1, 0), "the file has lines the change does not remove"
            )
        return None
    return result


# ---- unified text -----------------------------------------------------------------------


def unified(changes: Sequence[FileChange]) -> str:
    """git-style diff text for people, the CLI and transcripts (`git apply` takes it)."""
    out: list[str] = []
    for change in changes:
        out.append(f"diff --git a/{change.path} b/{change.path}")
        if change.status == "added":
            out += ["new file mode 100644", "--- /dev/null", f"+++ b/{change.path}"]
        elif change.status == "deleted":
            out += ["deleted file mode 100644", f"--- a/{change.path}", "+++ /dev/null"]
        else:
            out += [f"--- a/{change.path}", f"+++ b/{change.path}"]
        for hunk in change.hunks:
            out.append(hunk.header())
            out += hunk.lines
    return "\n".join(out) + "\n" if out else ""


_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _side_path(value: str) -> str | None:
    value = value.split("\t", 1)[0].strip()
    if value.startswith('"') and value.endswith('"') and len(value) > 1:
        value = value[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    if value == "/dev/null":
        return None
    return value[2:] if value[:2] in ("a/", "b/") else value


def parse_unified(text: str) -> list[FileChange]:
    """The files and hunks of a unified diff, read leniently because models write them: a hunk
    header's counts may be wrong or missing (`@@` alone; they are recounted from the body), and a
    blank line inside a hunk is an empty context line. Raises PatchError naming the line."""
    # Split at "\n" only: a CRLF file's diff has "\r" in its lines, and they must match it.
    lines = text.split("\n")
    changes: list[FileChange] = []
    old_path: str | None = None
    current: FileChange | None = None
    hunk: Hunk | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("--- ") and nxt.startswith("+++ ") and (hunk is None or _complete(hunk)):
            old_path, new_path = _side_path(line[4:]), _side_path(nxt[4:])
            path = new_path or old_path
            if not path:
                raise PatchError(f"line {i + 1}: both sides are /dev/null")
            status: Literal["modified", "added", "deleted"] = (
                "added" if old_path is None else "deleted" if new_path is None else "modified"
            )
            current, hunk = FileChange(path=path, status=status, hunks=[]), None
            changes.append(current)
            i += 2
            continue
        if line.startswith("@@"):
            if current is None:
                raise PatchError(f"line {i + 1}: a hunk before any `--- a/path` / `+++ b/path` header")
            match = _HUNK_HEADER.match(line)
            if match:
                a, b, c, d = match.groups()
                hunk = Hunk(int(a), int(b) if b is not None else 1, int(c), int(d) if d is not None else 1)
            else:  # "@@" or "@@ ... @@" without numbers: placed by its lines alone
                hunk = Hunk(0, -1, 0, -1)
            current.hunks.append(hunk)
        elif line.startswith("diff ") or (hunk is None and not line.startswith(("\\", "+", "-", " "))):
            hunk = None  # git's extended headers, prose between files
        elif hunk is not None and line[:1] in (" ", "+", "-", "\\"):
            hunk.lines.append(line)
        elif hunk is not None and line in ("", "\r"):
            hunk.lines.append(" " + line)
        elif hunk is not None:
            hunk = None  # prose after the hunk
        i += 1
    for change in changes:
        for h in change.hunks:
            _settle(h)
        change.hunks = [h for h in change.hunks if any(x[:1] in "+-" for x in h.lines if x)]
    return [c for c in changes if c.hunks or c.status != "modified"]


def _complete(hunk: Hunk) -> bool:
    """Whether a hunk has all the lines its header counts (one without numbers always has)."""
    if hunk.old_lines < 0:
        return True
    old, new = _sides(hunk.lines)
    return hunk.old_lines >= 0 and len(old) >= hunk.old_lines and len(new) >= hunk.new_lines


def _settle(hunk: Hunk) -> None:
    """Counts recounted from the body; blank lines an editor left after the hunk dropped."""
    while hunk.lines and hunk.lines[-1] in (" ", " \r"):
        old, new = _sides(hunk.lines)
        if hunk.old_lines >= 0 and len(old) <= hunk.old_lines and len(new) <= hunk.new_lines:
            break
        hunk.lines.pop()
    old, new = _sides(hunk.lines)
    if hunk.old_lines < 0:  # no numbers given: placed by its old lines alone
        hunk.old_start = 1 if old else 0
        hunk.new_start = 1 if new else 0
    hunk.old_lines, hunk.new_lines = len(old), len(new)
