"""`codeforge.collab.review {ref = "HEAD", title?}`: a review of the workspace's change set;
`codeforge.collab.review {run, title?}`: a review of an agent run's proposed change (its change
set as `agents.show` has it, before anyone accepts it: people comment on what the agent wants to
write, then accept or reject it).

The change set is `git diff <ref>` of the workspace (tracked files, staged or not) plus the
files git does not track yet and does not ignore (as new files), read by running git (the
workspace's own, so its config, attributes and ignores apply). It is the files as saved:
text typed in a session and not saved yet is not in it. It goes to the platform as
`collab.review_create {title, base_ref, files: [{path, hunks: [{old_start, old_lines,
new_start, new_lines, lines}]}]}` and the review comes back. Comments on its lines are
threads with the review's id (`codeforge.collab.comment {uri, line, body, review}`), shown on
their lines like any other (`codeforge/collab/comments`, `review` set).

Refused with a reason: a workspace that is not a git repository, a ref git does not know
(or one that looks like an option), no change against the ref, a change set larger than the
platform takes.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from codeforge.catalog import agents as agent_ops
from codeforge.catalog import collab as ops
from codeforge.catalog.errors import BadInput, ExternalFailure
from codeforge.lsp.capabilities.collab.comments import project_of
from codeforge.lsp.capabilities.collab.state import active_host
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["COMMANDS", "ChangedFile", "Hunk", "change_set", "contribute", "parse_diff", "review"]

GIT_TIMEOUT = 60.0
# What collab.review_create takes (catalog/collab.py): more is refused here, with the reason.
MAX_FILES = 1_000
MAX_HUNKS = 2_000
MAX_HUNK_LINES = 20_000
NEW_FILE_MAX_BYTES = 1 << 20  # an untracked file bigger than this is left out (likely data)

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: list[str] = field(default_factory=list)


@dataclass
class ChangedFile:
    path: str
    hunks: list[Hunk] = field(default_factory=list)


class ReviewArguments(CommandArguments):
    ref: str | None = Field(
        default=None, min_length=1, max_length=256, description="The git ref to review against (default HEAD)."
    )
    run: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="An agent run whose proposed change to review, instead of the workspace's changes.",
    )
    title: str | None = Field(default=None, min_length=1, max_length=200, description="What the change is.")


def _unquote(path: str) -> str:
    """git's C-style quoting of unusual paths ("a/caf\\303\\251")."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", errors="replace")


def _side(value: str) -> str | None:
    value = _unquote(value.rstrip("\t"))
    if value == "/dev/null":
        return None
    return value[2:] if value[:2] in ("a/", "b/") else value


def parse_diff(text: str) -> list[ChangedFile]:
    """The files and hunks of a unified diff (`git diff`'s output); binary files and mode
    changes, which have no hunks, are left out."""
    files: list[ChangedFile] = []
    current: ChangedFile | None = None
    old_path: str | None = None
    hunk: Hunk | None = None
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            current, hunk, old_path = None, None, None
        elif line.startswith("--- ") and hunk is None:
            old_path = _side(line[4:])
        elif line.startswith("+++ ") and hunk is None:
            new_path = _side(line[4:])
            current = ChangedFile(path=new_path or old_path or "")
            files.append(current)
        elif (match := _HUNK.match(line)) and current is not None:
            old_start, old_lines, new_start, new_lines = match.groups()
            hunk = Hunk(
                int(old_start),
                int(old_lines) if old_lines is not None else 1,
                int(new_start),
                int(new_lines) if new_lines is not None else 1,
            )
            current.hunks.append(hunk)
        elif hunk is not None and line[:1] in (" ", "+", "-"):
            hunk.lines.append(line)
        elif hunk is not None and line == "" and _hunk_open(hunk):
            hunk.lines.append(" ")  # an empty context line whose space an editor trimmed
    return [f for f in files if f.hunks and f.path]


def _hunk_open(hunk: Hunk) -> bool:
    old = sum(1 for line in hunk.lines if line[:1] in (" ", "-"))
    new = sum(1 for line in hunk.lines if line[:1] in (" ", "+"))
    return old < hunk.old_lines or new < hunk.new_lines


async def _git(root: Path, *args: str) -> tuple[int, str, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(root),
            "-c",
            "core.quotePath=false",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise ExternalFailure(
            "git is not installed where the workspace is", fix="install git on the workspace's machine"
        ) from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ExternalFailure(
            f"git {args[0]} took longer than {GIT_TIMEOUT:.0f} s", fix="try again, or review a smaller change"
        ) from None
    return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace").strip()


def _new_file(root: Path, relative: str) -> ChangedFile | None:
    """An untracked file as a diff that adds it; None for one that is not text."""
    path = root / relative
    try:
        if not path.is_file() or path.stat().st_size > NEW_FILE_MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:  # an empty file: no line to comment on
        return None
    return ChangedFile(relative, [Hunk(0, 0, 1, len(lines), ["+" + line for line in lines])])


async def change_set(root: Path, ref: str) -> list[ChangedFile]:
    """The workspace's changes against `ref`, with the errors a person can act on."""
    if ref.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in ref) or ".." in ref:
        raise BadInput(f"{ref!r} is not a git ref", fix="name a branch, a tag or a commit (HEAD, main, v1.2, a1b2c3d)")
    code, _, err = await _git(root, "rev-parse", "--git-dir")
    if code != 0:
        raise BadInput(
            f"the workspace {root} is not a git repository ({err or 'git rev-parse failed'})",
            fix="run `git init` and commit in the workspace, then review against a ref",
        )
    code, _, _ = await _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if code != 0:
        raise BadInput(
            f"git does not know the ref {ref!r} in the workspace",
            fix="name a branch, a tag or a commit that exists there (git log --oneline, git branch -a)",
        )
    code, out, err = await _git(root, "diff", "--no-color", "--no-ext-diff", "--no-renames", "-U3", ref, "--")
    if code != 0:
        raise ExternalFailure(f"git diff {ref} failed: {err}", fix="run it in the workspace to see why")
    files = parse_diff(out)
    code, out, _ = await _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if code == 0:
        known = {f.path for f in files}
        for relative in sorted(p for p in out.split("\0") if p):
            if relative not in known and (added := _new_file(root, relative)) is not None:
                files.append(added)
    return files


def _check_size(files: list[ChangedFile]) -> None:
    if len(files) > MAX_FILES:
        raise BadInput(
            f"the change touches {len(files)} files; a review takes at most {MAX_FILES}",
            fix="review against a nearer ref, or commit part of the change first",
        )
    for f in files:
        if len(f.hunks) > MAX_HUNKS:
            raise BadInput(f"{f.path} has {len(f.hunks)} hunks; a review takes at most {MAX_HUNKS} per file")
        for hunk in f.hunks:
            if len(hunk.lines) > MAX_HUNK_LINES:
                raise BadInput(
                    f"a hunk of {f.path} has {len(hunk.lines)} lines; a review takes at most {MAX_HUNK_LINES}",
                    fix="review against a nearer ref, or commit part of the change first",
                )


async def _run_change_set(ls: CodeForgeSession, run_id: str) -> tuple[list[ChangedFile], str, str]:
    """An agent run's change set, with the review's base and title."""
    run = await ls.platform.call(agent_ops.SHOW, {"run": run_id})
    assert isinstance(run, agent_ops.Run)  # agents.show is no job
    files = [
        ChangedFile(f.path, [Hunk(h.old_start, h.old_lines, h.new_start, h.new_lines, list(h.lines)) for h in f.hunks])
        for f in run.changes
        if f.hunks
    ]
    if not files:
        reason = f" ({run.reason})" if run.reason else ""
        raise BadInput(
            f"nothing to review: agent run {run_id} proposed no change{reason}",
            fix=f"see its transcript (codeforge agents show --run {run_id})",
        )
    return files, f"agent run {run_id}", f"Agent {run.agent}: {run.title}"


@lsp_command("codeforge.collab.review", ReviewArguments)
async def review(ls: CodeForgeSession, args: ReviewArguments) -> dict[str, Any]:
    if args.run is not None and args.ref is not None:
        raise BadInput("give either ref or run, not both", fix="ref reviews the workspace's changes, run an agent's")
    if args.run is not None:
        files, base_ref, title = await _run_change_set(ls, args.run)
    else:
        ref = args.ref or "HEAD"
        root = active_host(ls).workspace
        if root is None:
            raise BadInput(
                "this bridge serves no workspace folder", fix="connect to a workspace (codeforge connect URL)"
            )
        files = await change_set(Path(root), ref)
        if not files:
            raise BadInput(
                f"nothing to review: the workspace has no changes against {ref}",
                fix="change something first, or review against an older ref (HEAD~1)",
            )
        base_ref, title = ref, f"Changes against {ref}"
    _check_size(files)
    data = {
        "project": project_of(ls),
        "title": args.title or title,
        "base_ref": base_ref,
        "files": [
            {
                "path": f.path,
                "hunks": [
                    {
                        "old_start": h.old_start,
                        "old_lines": h.old_lines,
                        "new_start": h.new_start,
                        "new_lines": h.new_lines,
                        "lines": h.lines,
                    }
                    for h in f.hunks
                ],
            }
            for f in files
        ],
    }
    made: dict[str, Any] = (await ls.platform.call(ops.REVIEW_CREATE, data)).model_dump(mode="json")
    return made


COMMANDS = (review,)


def contribute(c: Contributions) -> None:
    c.add(*COMMANDS)
