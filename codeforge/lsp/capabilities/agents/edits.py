"""A run's change set as the `WorkspaceEdit` the editor previews, and its reverse for undo.

Each file's hunks are applied (`codeforge.changes.apply_hunks`) to the text the editor has
now: the open buffer, else the file on disk; so a file that moved on since the run still
takes the change where its lines are, and one whose changed lines were edited since is a
Conflict naming it (nothing is sent). The new text becomes line edits (difflib), not one
whole-file replacement: the preview shows what changes, and the editor keeps its marks and
folds elsewhere.

The edit is `documentChanges`: a `TextDocumentEdit` of `AnnotatedTextEdit`s per modified
file, `CreateFile` then its text for an added one, `DeleteFile` for a deleted one; one change
annotation per file (`"<agent>: <path>"`, the run's summary as its description), with
`needsConfirmation` on the preview (VS Code shows its refactor preview; the Neovim plugin
shows the diff and asks) and off on an undo, which the person asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

from codeforge.catalog.errors import Conflict
from codeforge.changes import Hunk, HunkConflict, apply_hunks
from codeforge.lsp.capabilities.agents.run import DECIDED, RunFile, RunView
from codeforge.lsp.session import CodeForgeSession

__all__ = ["Built", "build_edit", "landed_hunks", "line_edits", "texts_now"]

Units = Callable[[str], int]


@dataclass(frozen=True)
class Built:
    edit: types.WorkspaceEdit
    paths: list[str]  # the files it changes, in order


def line_edits(old: str, new: str, units: Units) -> list[types.TextEdit]:
    """Line edits turning `old` into `new`; `units` counts a string in the client's position
    encoding. An insertion after the last line is made as a replacement of that line: Neovim
    adds a stray empty line for an insertion at the position past a final newline."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    out: list[types.TextEdit] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        text = "".join(b[j1:j2])
        if i1 == i2 == len(a) and a:
            i1 -= 1
            text = a[-1] + text
        out.append(types.TextEdit(range=_lines_range(a, i1, i2, units), new_text=text))
    return out


def _lines_range(a: list[str], i1: int, i2: int, units: Units) -> types.Range:
    start = types.Position(line=i1, character=0)
    if i2 < len(a) or not a or a[-1].endswith(("\n", "\r")):
        end = types.Position(line=i2, character=0)
    else:  # up to the end of a last line that has no newline
        end = types.Position(line=len(a) - 1, character=units(a[-1]))
    return types.Range(start=start, end=end)


def _current(ls: CodeForgeSession, path: Path) -> tuple[str | None, int | None]:
    """The file's text as the editor has it (its buffer's version when open), None when it
    is not there."""
    uri = str(from_fs_path(str(path)))
    try:
        documents = ls.workspace.text_documents
    except RuntimeError:
        documents = {}
    if uri in documents:
        doc = documents[uri]
        return doc.source, doc.version
    try:
        return path.read_text(encoding="utf-8"), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        raise Conflict(
            f"cannot read {path} ({type(exc).__name__})", fix="check the file, then run the agent again"
        ) from None


def _apply(text: str, hunks: list[Hunk], path: str, *, reverse: bool) -> str:
    try:
        return apply_hunks(text, hunks, reverse=reverse, path=path)
    except HunkConflict as exc:
        raise Conflict(
            f"{path} changed where the agent's change goes (hunk {exc.index + 1}: {exc})",
            fix="undo your edit there, or run the agent again on the file as it is now",
        ) from None


def _doc_edit(uri: str, version: int | None, edits: list[types.TextEdit], annotation: str) -> types.TextDocumentEdit:
    annotated: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        types.AnnotatedTextEdit(range=e.range, new_text=e.new_text, annotation_id=annotation) for e in edits
    ]
    return types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=annotated
    )


_Change = types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile


def _file_changes(
    ls: CodeForgeSession, root: Path, f: RunFile, hunks: list[Hunk], annotation: str, *, reverse: bool, units: Units
) -> list[_Change]:
    path = root / f.path
    uri = str(from_fs_path(str(path)))
    text, version = _current(ls, path)
    # Undoing a deletion makes the file again; undoing an addition removes it.
    creates = f.status == ("deleted" if reverse else "added")
    deletes = f.status == ("added" if reverse else "deleted")
    if creates:
        if text is not None:
            raise Conflict(
                f"{f.path} exists already; the change would create it",
                fix="move or delete that file, or run the agent again",
            )
        new = _apply("", hunks, f.path, reverse=reverse)
        empty = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
        return [
            types.CreateFile(
                uri=uri,
                options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                annotation_id=annotation,
            ),
            _doc_edit(uri, None, [types.TextEdit(range=empty, new_text=new)], annotation),
        ]
    if text is None:
        raise Conflict(f"{f.path} is not in the workspace any more", fix="restore it, or run the agent again")
    new = _apply(text, hunks, f.path, reverse=reverse)
    if deletes:
        if new != "":
            raise Conflict(
                f"{f.path} has text the change does not know; deleting it would lose that",
                fix="delete the file yourself if it should go",
            )
        return [
            types.DeleteFile(
                uri=uri, options=types.DeleteFileOptions(ignore_if_not_exists=False), annotation_id=annotation
            )
        ]
    edits = line_edits(text, new, units)
    return [_doc_edit(uri, version, edits, annotation)] if edits else []


def build_edit(ls: CodeForgeSession, run: RunView, root: Path, *, undo: bool = False) -> Built:
    """The preview of `run`'s pending hunks (or, with `undo`, the reverse of its accepted
    ones) against the editor's current text; Conflict names a file that cannot take it."""
    codec = ls.workspace.position_codec
    changes: list[_Change] = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    paths: list[str] = []
    for f in run.files:
        hunks = f.hunks_in("accepted") if undo else f.open_hunks()
        if not hunks:
            continue
        annotation = f"{run.id}:{f.path}"
        made = _file_changes(ls, root, f, hunks, annotation, reverse=undo, units=codec.client_num_units)
        if not made:
            continue
        changes += made
        paths.append(f.path)
        annotations[annotation] = types.ChangeAnnotation(
            label=f"{'undo ' if undo else ''}{run.agent}: {f.path}",
            needs_confirmation=not undo,
            description=(f"undo: {run.summary}" if undo else run.summary) or None,
        )
    edit = types.WorkspaceEdit(document_changes=changes, change_annotations=annotations)
    return Built(edit, paths)


def texts_now(ls: CodeForgeSession, run: RunView, root: Path) -> dict[str, str | None]:
    """The editor's text of each file with open hunks (None: no such file), before a preview."""
    return {f.path: _current(ls, root / f.path)[0] for f in run.files if f.open_hunks()}


def _hunk_landed(f: RunFile, hunk: Hunk, before: str | None, now: str | None) -> bool:
    if now == before:
        return False  # the person left this file out of the change
    if f.status == "deleted":
        return now is None
    if now is None:
        return False
    try:  # its new lines are there and its old ones gone: it was applied
        apply_hunks(now, [hunk], reverse=True, path=f.path)
    except HunkConflict:
        return False
    try:
        apply_hunks(now, [hunk], path=f.path)
    except HunkConflict:
        return True
    return False


def landed_hunks(
    ls: CodeForgeSession, run: RunView, root: Path, before: dict[str, str | None]
) -> tuple[list[str], list[str]]:
    """Ids ("<path>#<n>") of the open hunks the editor applied and of those it left out. An
    editor's preview may apply part of a change (VS Code's refactor preview: the files and
    edits the person ticked) and still answer `applied: true`; the text it has now tells."""
    landed: list[str] = []
    left: list[str] = []
    for f in run.files:
        now = _current(ls, root / f.path)[0]
        for n, (hunk, state) in enumerate(zip(f.hunks, f.states, strict=True), 1):
            if state in DECIDED:
                continue
            (landed if _hunk_landed(f, hunk, before.get(f.path), now) else left).append(f"{f.path}#{n}")
    return landed, left
