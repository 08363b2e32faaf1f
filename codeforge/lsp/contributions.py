"""What a capability adds to the editor, and the registry the server's features fan out to.

The features (`features/`) own the LSP methods and know no capability; a capability's
module under `codeforge/lsp/capabilities/` has a `contribute(c: Contributions)` that adds
its providers:

- `DocumentSubscriber`: told of didOpen / didChange / didSave / didClose of the documents
  it wants (`features/documents.py` fans each event out);
- `ProjectFileCheck`: diagnostics on codeforge.yaml from what the platform has, refreshed
  on open and save (`features/diagnostics.py`);
- `CodeActionProvider`: code actions for a document, quick fixes for its diagnostics
  (`features/code_actions.py`);
- `ProjectAction`: a section of codeforge.yaml that `codeforge.projectFile.apply` carries out;
- `LspCommand`: a command of its own (`command.py`'s `@lsp_command`);
- `Notification`: an editor → server notification of its own (`codeforge/...`);
- `SessionHook`: work of its own for the session's lifetime, started after `initialized` and
  stopped on shutdown or exit (`features/lifecycle.py`).

Adding a capability adds a module there and edits no shared file. Providers are plain
functions of the session (`ls`); per-session state lives in `ls.state(SomeClass)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lsprotocol import types
from pygls.workspace import TextDocument

from codeforge.lsp.command import LspCommand
from codeforge.lsp.positions import to_range
from codeforge.lsp.project_yaml import Analysis, locate
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import ProjectFile

__all__ = [
    "DIAGNOSTIC_SOURCE",
    "ApplyContext",
    "CodeActionProvider",
    "CodeActionRequest",
    "CodeLensProvider",
    "Contributions",
    "DocumentEvent",
    "DocumentSubscriber",
    "EventKind",
    "Notification",
    "ProjectAction",
    "ProjectFileCheck",
    "ProjectFileView",
    "SessionHook",
]

# `source` of every diagnostic this server publishes; quick fixes look for it.
DIAGNOSTIC_SOURCE = "codeforge"

EventKind = Literal["open", "change", "save", "close"]
ALL_EVENTS: frozenset[EventKind] = frozenset(("open", "change", "save", "close"))


@dataclass(frozen=True)
class DocumentEvent:
    """One document notification: `params` is the LSP's (didChange's carries the edits as
    the editor sent them; the workspace already holds the text after them)."""

    kind: EventKind
    uri: str
    params: Any


@dataclass(frozen=True)
class DocumentSubscriber:
    """Told of the events it names for the documents `wants` accepts. A handler may be a
    plain function (run at once, in subscription order) or a coroutine function."""

    name: str
    handle: Callable[[CodeForgeSession, DocumentEvent], Awaitable[None] | None]
    events: frozenset[EventKind] = ALL_EVENTS
    wants: Callable[[CodeForgeSession, str], bool] = lambda ls, uri: True


@dataclass(frozen=True)
class ProjectFileView:
    """An open codeforge.yaml as analysed now: the text, its model (None while it has
    errors) and where each key is."""

    uri: str
    doc: TextDocument
    analysis: Analysis

    @property
    def model(self) -> ProjectFile | None:
        return self.analysis.model

    def range_of(self, loc: tuple[Any, ...], *, key: bool = False) -> types.Range:
        """The range of the key path `loc` in the client's position encoding."""
        return to_range(self.doc, locate(self.analysis.root, loc, key=key))

    def diagnostic(
        self,
        loc: tuple[Any, ...],
        message: str,
        *,
        key: bool = False,
        severity: types.DiagnosticSeverity = types.DiagnosticSeverity.Warning,
        code: str | None = None,
        data: Any = None,
    ) -> types.Diagnostic:
        return types.Diagnostic(
            range=self.range_of(loc, key=key),
            message=message,
            severity=severity,
            source=DIAGNOSTIC_SOURCE,
            code=code,
            data=data,
        )


@dataclass(frozen=True)
class ProjectFileCheck:
    """Diagnostics on codeforge.yaml. `diagnose` runs on every change from what is known;
    `refresh` asks the platform on open and save (then the file is diagnosed again); a
    platform that cannot be reached must leave no warning (the file is not wrong);
    `forget` drops what was learnt about a closed file."""

    name: str
    diagnose: Callable[[CodeForgeSession, ProjectFileView], list[types.Diagnostic]]
    refresh: Callable[[CodeForgeSession, ProjectFileView], Awaitable[None]] | None = None
    forget: Callable[[CodeForgeSession, str], None] | None = None


@dataclass(frozen=True)
class CodeActionRequest:
    """A textDocument/codeAction request; `project` is the parsed codeforge.yaml when the
    document is one and it parses (else None: its diagnostics say what to fix first)."""

    uri: str
    params: types.CodeActionParams
    project: ProjectFile | None

    @property
    def diagnostics(self) -> Sequence[types.Diagnostic]:
        return self.params.context.diagnostics

    def ours(self, code: str) -> list[types.Diagnostic]:
        """The diagnostics in the request that this server published with `code`."""
        return [d for d in self.diagnostics if d.source == DIAGNOSTIC_SOURCE and d.code == code]

    def wants(self, kind: str) -> bool:
        """Whether the client asked for this kind (no `only` means every kind)."""
        only = self.params.context.only
        # CodeActionKind is a str enum whose str() is "CodeActionKind.Source": use its value.
        return not only or any(kind.startswith(str(getattr(k, "value", k))) for k in only)


@dataclass(frozen=True)
class CodeActionProvider:
    """Code actions of the `kinds` it declares (they go in the server's codeActionKinds)."""

    name: str
    kinds: tuple[str, ...]
    provide: Callable[[CodeForgeSession, CodeActionRequest], list[types.CodeAction]]


@dataclass(frozen=True)
class CodeLensProvider:
    """Code lenses of one document: `provide(session, uri, text)`, an empty list where it has
    none. `features/code_lens.py` asks every provider and joins what they give."""

    name: str
    provide: Callable[[CodeForgeSession, str, str], list[types.CodeLens]]


@dataclass(frozen=True)
class ApplyContext:
    """What `codeforge.projectFile.apply` gives a section's action: the file, its model,
    the project, the entry names it was limited to (None: all of them), and `report` for
    the action's `$/progress` (message, and the fraction done when known)."""

    uri: str
    path: Path
    model: ProjectFile
    project: str
    names: frozenset[str] | None
    report: Callable[[str, float | None], None]


@dataclass(frozen=True)
class ProjectAction:
    """A section of codeforge.yaml that a code action carries out."""

    section: str
    title: str
    wanted: Callable[[ProjectFile], bool]
    run: Callable[[CodeForgeSession, ApplyContext], Awaitable[dict[str, Any]]]


def _plain(value: Any) -> Any:
    """pygls hands a notification it has no type for over as named tuples: back to JSON."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Notification:
    """An editor → server notification `method` of a capability's own: `handle(session,
    params)` gets the params as plain JSON (a notification has no answer: a handler tells
    the editor about bad params itself, with a log or show message)."""

    method: str
    handle: Callable[[CodeForgeSession, Any], Awaitable[None] | None]

    def register(self, server: CodeForgeSession) -> None:
        handle = self.handle

        def notification(ls: Any, params: Any) -> Any:
            return handle(ls, _plain(params))

        notification.__qualname__ = notification.__name__ = "notification_" + self.method.replace("/", "_")
        server.feature(self.method)(notification)


# The LSP's own lifecycle messages: the assembly handles them and calls `SessionHook`s.
_LIFECYCLE = frozenset(("initialize", "initialized", "shutdown", "exit"))


@dataclass(frozen=True)
class SessionHook:
    """Work a capability does for the whole session (a long-poll, a first refresh).

    `on_start(session)` is called once, after `initialized` (initializationOptions applied,
    the workspace known; or at the first document event of a client that never sends
    `initialized`); `on_stop(session)` once on `shutdown` (the platform client still open),
    or on `exit` without one, for a session that started. Either may be a plain function or
    a coroutine function: coroutines run as the session's tasks, every capability's side by
    side, and one that fails is logged and stops no other. A loop that `on_start` leaves
    running is the capability's to end in `on_stop` (the bridge also cancels the session's
    tasks when its link ends)."""

    name: str
    on_start: Callable[[CodeForgeSession], Awaitable[None] | None]
    on_stop: Callable[[CodeForgeSession], Awaitable[None] | None] | None = None


@dataclass
class Contributions:
    """Everything the capabilities contributed, in the order they did."""

    documents: list[DocumentSubscriber] = field(default_factory=list)
    project_checks: list[ProjectFileCheck] = field(default_factory=list)
    code_actions: list[CodeActionProvider] = field(default_factory=list)
    code_lenses: list[CodeLensProvider] = field(default_factory=list)
    project_actions: list[ProjectAction] = field(default_factory=list)
    commands: list[LspCommand[Any]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    session_hooks: list[SessionHook] = field(default_factory=list)

    def add(
        self,
        *items: DocumentSubscriber
        | ProjectFileCheck
        | CodeActionProvider
        | CodeLensProvider
        | ProjectAction
        | LspCommand[Any]
        | Notification
        | SessionHook,
    ) -> None:
        for item in items:
            if isinstance(item, DocumentSubscriber):
                self.documents.append(item)
            elif isinstance(item, ProjectFileCheck):
                self.project_checks.append(item)
            elif isinstance(item, CodeActionProvider):
                self.code_actions.append(item)
            elif isinstance(item, CodeLensProvider):
                self.code_lenses.append(item)
            elif isinstance(item, ProjectAction):
                if any(a.section == item.section for a in self.project_actions):
                    raise ValueError(f"two actions for codeforge.yaml section {item.section!r}")
                self.project_actions.append(item)
            elif isinstance(item, LspCommand):
                self.commands.append(item)
            elif isinstance(item, Notification):
                if item.method in _LIFECYCLE:
                    raise ValueError(
                        f"notification {item.method!r} is the server's own; "
                        "contribute a SessionHook(name, on_start, on_stop) to start or stop work with the session"
                    )
                if any(n.method == item.method for n in self.notifications):
                    raise ValueError(f"two handlers for notification {item.method!r}")
                self.notifications.append(item)
            elif isinstance(item, SessionHook):
                if any(h.name == item.name for h in self.session_hooks):
                    raise ValueError(f"two session hooks named {item.name!r}")
                self.session_hooks.append(item)
            else:
                raise TypeError(f"not an editor contribution: {item!r}")

    def code_action_kinds(self) -> list[str]:
        kinds: list[str] = []
        for provider in self.code_actions:
            kinds += [k for k in provider.kinds if k not in kinds]
        return kinds
