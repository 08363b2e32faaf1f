"""An LSP editor for collaboration tests: `codeforge connect URL` with a client on its stdio
that behaves as an editor's buffer does.

`Editor` keeps the text and version of each document it opened, sends incremental didChange
notifications in the position encoding it negotiated, and answers `workspace/applyEdit` as
VS Code does: a versioned edit for another version is refused (`applied: false`), otherwise
the edits are applied, one didChange reports them (one content change per edit, last first)
and the answer is `applied: true`. A test may hold applyEdits (`hold_edits`) to play the
user typing while one is in flight, and answer them later (`release`).

Positions are converted here independently of `codeforge.collab.text` (whose conversions
the language server uses), so a wrong conversion there cannot hide behind the same one here.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bridge.conftest import ConnectProcess, LspPipe

__all__ = ["Editor", "converge", "index_of", "position_of"]


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode())
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def position_of(text: str, index: int, encoding: str) -> dict[str, int]:
    """The LSP position of string index `index` (lines end at \\n only in these tests)."""
    line = text.count("\n", 0, index)
    start = text.rfind("\n", 0, index) + 1
    return {"line": line, "character": _units(text[start:index], encoding)}


def index_of(text: str, position: dict[str, int], encoding: str) -> int:
    lines = text.split("\n")
    line = position["line"]
    if line >= len(lines):
        return len(text)
    start = sum(len(x) + 1 for x in lines[:line])
    units = 0
    for i, char in enumerate(lines[line]):
        if units >= position["character"]:
            return start + i
        units += _units(char, encoding)
    return start + len(lines[line])


@dataclass
class Editor:
    process: ConnectProcess
    pipe: LspPipe
    encoding: str = "utf-16"
    name: str = "editor"
    texts: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    hold_edits: bool = False
    refuse_edits: bool = False  # answer every applyEdit `applied: false` (a read-only buffer)
    skip_edits: int = 0  # answer this many `applied: true` without applying them (Neovim, stale)
    edit_requests: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)
    edits_applied: int = 0
    edits_refused: int = 0
    _next_id: int = 1000

    @classmethod
    def start(
        cls,
        url: str,
        env: dict[str, str],
        root: Path,
        *,
        encoding: str = "utf-16",
        token: str | None = None,
        name: str = "editor",
        log: Path | None = None,
        apply_edit: bool = True,
    ) -> Editor:
        env = dict(env)
        if token is not None:
            env["CODEFORGE_TOKEN"] = token
        process = ConnectProcess(url, env, stderr_path=log)
        editor = cls(process, process.start(), encoding, name)
        answer = editor.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": {
                    "general": {"positionEncodings": [encoding]},
                    "window": {"workDoneProgress": False},
                    "workspace": {"applyEdit": apply_edit, "workspaceEdit": {"documentChanges": True}},
                },
                "initializationOptions": {"showResults": "none"},
            },
        )
        negotiated = answer["result"]["capabilities"].get("positionEncoding", "utf-16")
        assert negotiated == encoding, f"asked for {encoding}, the server chose {negotiated}"
        editor.notify("initialized", {})
        return editor

    # -- the wire ---------------------------------------------------------------------------

    def notify(self, method: str, params: Any) -> None:
        self.pipe.notify(method, params)

    def request(self, method: str, params: Any = None, timeout: float = 60) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self.pipe.send({"id": message_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while message_id not in self.pipe._held:
            if not self.pump(max(0.0, deadline - time.monotonic()), until_one=True) and time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no answer to {method} in {timeout} s")
        return self.pipe._held.pop(message_id)

    def command(self, command: str, argument: Any = None, *, raw: bool = False) -> Any:
        """The command's result; with raw, the whole response (result or error)."""
        arguments = [] if argument is None else [argument]
        answer = self.request("workspace/executeCommand", {"command": command, "arguments": arguments})
        if raw:
            return answer
        assert "error" not in answer, f"{self.name}: {command} failed: {answer['error']}"
        return answer["result"]

    def pump(self, timeout: float = 0.05, *, until_one: bool = False) -> bool:
        """Handle what the server sent within `timeout`; True if anything came."""
        got = False
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.pipe.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return got
            if message is None:
                raise AssertionError(f"{self.name}: the connect process ended (rc {self.process.process.poll()})")  # type: ignore[union-attr]
            got = True
            self._handle(message)
            if until_one:
                return True

    def _handle(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            if message["method"] == "workspace/applyEdit":
                self.edit_requests += 1
                if self.skip_edits:
                    self.skip_edits -= 1
                    self.pipe.send({"id": message["id"], "result": {"applied": True}})
                elif self.refuse_edits:
                    self.edits_refused += 1
                    self.pipe.send({"id": message["id"], "result": {"applied": False, "failureReason": "read-only"}})
                elif self.hold_edits:
                    self.held.append(message)
                else:
                    self.answer_edit(message)
                return
            self.pipe.server_requests.append(message)
            self.pipe.send({"id": message["id"], "result": None})
        elif "method" in message:
            self.pipe.notifications.append(message)
        else:
            self.pipe._held[message["id"]] = message

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}")
            self.pump(0.05)

    def notification(self, method: str, check: Callable[[Any], bool] = lambda _: True, timeout: float = 60) -> Any:
        """The params of the first notification `method` (seen or to come) passing `check`."""
        found: list[Any] = []

        def seen() -> bool:
            for note in self.pipe.notifications:
                if note.get("method") == method and check(note.get("params")):
                    self.pipe.notifications.remove(note)
                    found.append(note.get("params"))
                    return True
            return False

        self.wait(seen, f"a {method} notification", timeout)
        return found[0]

    def messages_shown(self) -> list[str]:
        return [n["params"]["message"] for n in self.pipe.notifications if n.get("method") == "window/showMessage"]

    # -- documents --------------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.as_uri()
        self.texts[uri] = path.read_text() if text is None else text
        self.versions[uri] = 1
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": self.texts[uri]}},
        )
        return uri

    def close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.texts.pop(uri, None)

    def save(self, uri: str) -> None:
        self.notify("textDocument/didSave", {"textDocument": {"uri": uri}})

    def replace(self, uri: str, start: int, end: int, new: str) -> None:
        """The user replaces text[start:end] (string indexes) with `new`."""
        self.send_changes(uri, [(start, end, new)])

    def insert(self, uri: str, index: int, new: str) -> None:
        self.replace(uri, index, index, new)

    def type_at_end(self, uri: str, new: str) -> None:
        self.insert(uri, len(self.texts[uri]), new)

    def send_changes(self, uri: str, changes: list[tuple[int, int, str]]) -> None:
        """Content changes (string indexes into the text as each change finds it), one didChange."""
        content = []
        text = self.texts[uri]
        for start, end, new in changes:
            content.append(
                {
                    "range": {
                        "start": position_of(text, start, self.encoding),
                        "end": position_of(text, end, self.encoding),
                    },
                    "text": new,
                }
            )
            text = text[:start] + new + text[end:]
        self.texts[uri] = text
        self.versions[uri] += 1
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": self.versions[uri]}, "contentChanges": content},
        )

    def send_full(self, uri: str, text: str) -> None:
        """A whole-document didChange (no range), as an editor that syncs in full sends."""
        self.texts[uri] = text
        self.versions[uri] += 1
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": self.versions[uri]}, "contentChanges": [{"text": text}]},
        )

    # -- workspace/applyEdit ------------------------------------------------------------------

    def _edits_of(self, message: dict[str, Any]) -> tuple[str, int | None, list[dict[str, Any]]]:
        (change,) = message["params"]["edit"]["documentChanges"]
        return change["textDocument"]["uri"], change["textDocument"].get("version"), change["edits"]

    def apply_locally(self, message: dict[str, Any]) -> list[tuple[int, int, str]]:
        """Apply an applyEdit's edits to the buffer (no didChange): the content changes an
        editor would report, last first."""
        uri, _version, edits = self._edits_of(message)
        text = self.texts[uri]
        spans = sorted(
            (
                (
                    index_of(text, e["range"]["start"], self.encoding),
                    index_of(text, e["range"]["end"], self.encoding),
                    e["newText"],
                )
                for e in edits
            ),
            reverse=True,
        )
        changes = []
        for start, end, new in spans:
            changes.append((start, end, new))
            text = text[:start] + new + text[end:]
        self.texts[uri] = text
        return changes

    def answer_edit(self, message: dict[str, Any], *, report: bool = True) -> bool:
        """Apply it when its version is the buffer's (reporting it as one didChange), else refuse."""
        uri, version, _edits = self._edits_of(message)
        if uri not in self.texts or (version is not None and version != self.versions[uri]):
            self.edits_refused += 1
            self.pipe.send({"id": message["id"], "result": {"applied": False, "failureReason": "version mismatch"}})
            return False
        before = self.texts[uri]
        changes = self.apply_locally(message)
        if report and changes:
            after = self.texts[uri]
            self.texts[uri] = before
            self.send_changes(uri, changes)
            assert self.texts[uri] == after
        self.edits_applied += 1
        self.pipe.send({"id": message["id"], "result": {"applied": True}})
        return True

    def release(self) -> None:
        held, self.held = self.held, []
        for message in held:
            self.answer_edit(message)

    # -- lifetime -----------------------------------------------------------------------------

    def stop(self) -> None:
        try:
            self.request("shutdown", timeout=20)
            self.notify("exit", None)
        except (AssertionError, OSError):
            pass
        self.process.stop()


def converge(editors: list[tuple[Editor, str]], what: str = "the editors to converge", timeout: float = 60) -> str:
    """Pump every editor until all have the same text for their document; that text."""
    deadline = time.monotonic() + timeout
    while True:
        for editor, _uri in editors:
            editor.pump(0.02)
        texts = {editor.texts[uri] for editor, uri in editors}
        busy = any(editor.held for editor, _ in editors)
        if len(texts) == 1 and not busy:
            # Settled: nothing more arrives for a moment (an applyEdit may still be on its way).
            quiet = not any(editor.pump(0.2) for editor, _ in editors)
            texts = {editor.texts[uri] for editor, uri in editors}
            if quiet and len(texts) == 1:
                return texts.pop()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {json.dumps([e.texts[u] for e, u in editors])}")
