"""`RepoMap`: the codebase map an agent starts from (docs/agents.md, "Context builder").

Built once from a folder, then kept current from file changes: `update(paths)` re-parses the
named files only and patches the reference graph around them, and `watch()` feeds it from
watchfiles. `rank(focus)` orders files and definitions for a task, `render(focus, budget)`
writes the map text within a token budget, and `symbols()` answers the agents' list_symbols."""

from __future__ import annotations

import copy
import gc
import logging
import os
import posixpath
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from codeforge.catalog.errors import BadInput

from .files import MAX_FILE_BYTES, IgnoreRules, language_of, read_text, walk
from .focus import Focus, normalize_path
from .graph import ReferenceGraph, key
from .python_tags import parse_python
from .render import Entry, fit
from .symbols import FileTags, Symbol
from .ts_tags import parse_tree_sitter, supported

__all__ = ["RankedFile", "RepoMap", "Watcher"]

log = logging.getLogger(__name__)

_FOCUS_BOOST = 1.0  # a definition the focus points at outranks any the graph alone found (ranks sum to 1)
_NAMED_BOOST = 0.5  # a definition the focus names, outside the focus files
# Personalisation (restart weights) of the ranking, see RepoMap._personal.
_FOCUS_WEIGHT = 1.0
_NAMED_WEIGHT = 0.5
_SIBLING_WEIGHT = 0.05
_SHARED_WEIGHT = 0.3
_CALLER_WEIGHT = 0.3
_RARE_USERS = 8  # an outside name used by more files than this says nothing about similarity


@dataclass
class RankedFile:
    """A file's rank for a focus, with its definitions, most relevant first."""

    path: str
    score: float
    symbols: list[tuple[Symbol, float]] = field(default_factory=list)


def parse_file(path: str, text: str) -> FileTags | None:
    """Tags of one file's text; None for a language the map does not parse."""
    language = language_of(path)
    if language is None:
        return None
    if language == "python":
        try:
            return parse_python(path, text)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            # A file mid-edit: tree-sitter still finds the definitions around the error.
            tags = parse_tree_sitter(path, text, "python")
            tags.error = f"{type(exc).__name__}: {exc}"
            return tags
    if not supported(language):
        return None
    return parse_tree_sitter(path, text, language)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while parsing: building syntax trees allocates enough
    to trigger collections that walk every object of the (large) map each time; the trees
    make no cycles that need collecting sooner. Halves the parse of a big file."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RepoMap:
    """Files, symbols and references of a folder, ranked for a focus and kept current."""

    def __init__(self, root: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.graph = ReferenceGraph()
        self.skipped: dict[str, str] = {}  # path → why it is not mapped (binary, huge, unreadable)
        self._rules = IgnoreRules(root)
        self._digests: dict[str, int] = {}  # path → hash of the text its tags came from
        self._lock = threading.RLock()

    # -- building and updating --------------------------------------------------------------

    @classmethod
    def build(cls, root: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> RepoMap:
        """Map every file of `root` that git would track."""
        root = Path(root)
        if not root.is_dir():
            raise BadInput(
                f"cannot map {root}: {'it is not a folder' if root.exists() else 'no such folder'}",
                fix="give the workspace folder (the project's root) to map",
            )
        repo = cls(root.resolve(), max_file_bytes=max_file_bytes)
        with _gc_paused():
            parsed: dict[str, FileTags] = {}
            for rel in walk(repo.root, repo._rules):
                if language_of(rel) is not None:
                    tags = repo._parse(rel)
                    if tags is not None:
                        parsed[rel] = tags
            repo.graph.load(parsed)
        return repo

    def copy_to(self, root: Path) -> RepoMap:
        """This map for a copy of its folder at `root` (an agent's sandbox): the graph copied,
        then only the files that differ there parsed again (each file's text is compared with
        the digest its tags came from), so a run starts from the workspace's map at the cost of
        reading the files, not of parsing them."""
        root = Path(root).resolve()
        with self._lock:
            twin = RepoMap(root, max_file_bytes=self.max_file_bytes)
            twin.graph = copy.deepcopy(self.graph)
            twin.skipped = dict(self.skipped)
            twin._digests = dict(self._digests)
        twin.update(sorted(root.iterdir()))
        with twin._lock:  # what the copy left out (a hidden folder, a file deleted meanwhile)
            for rel in [r for r in twin.graph.tags if not (root / r).is_file()]:
                twin._forget(rel)
        return twin

    def _parse(self, rel: str) -> FileTags | None:
        """The file's tags, None when it is not mapped (ignored, gone, binary, huge); notes why
        in `skipped` and the text's digest for `_refresh`."""
        self.skipped.pop(rel, None)
        self._digests.pop(rel, None)
        if language_of(rel) is None or self._rules.ignored(rel, False):
            return None
        text, why = read_text(self.root / rel, self.max_file_bytes)
        if text is None:
            if why != "missing":
                self.skipped[rel] = why
            return None
        tags = parse_file(rel, text)
        if tags is not None:
            self._digests[rel] = hash(text)
        return tags

    def _refresh(self, rel: str) -> None:
        """Parse one file again (or forget it) and patch the graph."""
        old_digest = self._digests.get(rel)
        if old_digest is not None and rel in self.graph.tags:
            text, _ = read_text(self.root / rel, self.max_file_bytes)
            if text is not None and hash(text) == old_digest and not self._rules.ignored(rel, False):
                return  # saved unchanged (editors do), or a folder walked again: nothing to redo
        tags = self._parse(rel)
        if tags is not None or rel in self.graph.tags:
            self.graph.set_file(rel, tags)

    def _relative(self, path: Path | str) -> str | None:
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.relative_to(self.root)
            except ValueError:
                try:
                    p = p.resolve().relative_to(self.root)
                except (ValueError, OSError):
                    return None  # outside the workspace
        rel = normalize_path(p.as_posix())
        if rel in ("", ".") or rel.startswith("../"):
            return None
        return rel

    def update(self, paths: Iterable[Path | str]) -> None:
        """Take changed, added or deleted files (or folders) into account: only those are read
        again. A changed .gitignore re-walks the tree to find what it now hides or shows."""
        with self._lock, _gc_paused():
            rescan = False
            for path in paths:
                rel = self._relative(path)
                if rel is None:
                    continue
                full = self.root / rel
                if os.path.basename(rel) == ".gitignore":
                    self._rules.forget(os.path.dirname(rel))
                    rescan = True
                elif full.is_dir() and not full.is_symlink():
                    if not self._rules.ignored(rel, True):
                        for inner in walk(self.root, self._rules, rel):
                            if language_of(inner) is not None:
                                self._refresh(inner)
                    self._forget_below(rel, keep_present=True)
                else:
                    self._refresh(rel)
                    self._forget_below(rel, keep_present=False)
            if rescan:
                present = {rel for rel in walk(self.root, self._rules) if language_of(rel) is not None}
                for rel in sorted(set(self.graph.tags) - present):
                    self._forget(rel)
                for rel in sorted(present - set(self.graph.tags)):
                    self._refresh(rel)

    def _forget(self, rel: str) -> None:
        self._digests.pop(rel, None)
        self.graph.set_file(rel, None)

    def _forget_below(self, folder: str, *, keep_present: bool) -> None:
        """Mapped files under a folder that is gone (or that vanished from a walked folder)."""
        prefix = folder + "/"
        for rel in [p for p in self.graph.tags if p.startswith(prefix)]:
            if not keep_present or not (self.root / rel).is_file() or self._rules.ignored(rel, False):
                self._forget(rel)

    def watch(self, *, debounce_ms: int = 200, force_polling: bool | None = None) -> Watcher:
        """A thread that applies file changes as watchfiles reports them; `.stop()` ends it."""
        return Watcher(self, debounce_ms=debounce_ms, force_polling=force_polling)

    # -- reading ----------------------------------------------------------------------------

    @property
    def files(self) -> list[str]:
        with self._lock:
            return sorted(self.graph.tags)

    def tags(self, path: str) -> FileTags | None:
        with self._lock:
            return self.graph.tags.get(normalize_path(path))

    def symbols(self, path: str | None = None, query: str = "") -> list[Symbol]:
        """Definitions in a file or folder (all when None) whose qualified name holds `query`
        (case-insensitive), in path and line order."""
        folder = normalize_path(path) if path else ""
        needle = query.strip().lower()
        with self._lock:
            found = [
                symbol
                for rel, tags in self.graph.tags.items()
                if not folder or rel == folder or rel.startswith(folder + "/")
                for symbol in tags.symbols
                if not needle or needle in symbol.qualname.lower()
            ]
        return sorted(found, key=lambda s: (s.path, s.line, s.name))

    def _mentioned(self, focus: Focus) -> set[str]:
        """Identifiers (graph keys) the focus touches: its symbols, in every language, and what
        the focused definitions (the test, the function around a diagnostic or a selection)
        use, in their file's language."""
        named = set(focus.symbols) | {s.rsplit(".", 1)[-1] for s in focus.symbols}
        bare = {s.rsplit(".", 1)[-1] for s in focus.symbols}
        families = {tags.family for tags in self.graph.tags.values()}
        mentioned = {key(f, ident) for f in families for s in bare for ident in (s, "." + s)}
        for path in focus.paths:
            tags = self.graph.tags.get(path)
            if tags is None:
                continue
            used: set[str] = set()
            for symbol in tags.symbols:
                if symbol.qualname in named or (symbol.name in named and not symbol.parent):
                    used |= tags.refs_between(symbol.first_line, symbol.end_line)
            for line in focus.lines.get(path, []):
                inner = tags.around(line)
                used |= tags.refs_between(inner.first_line, inner.end_line) if inner else tags.refs_between(line, line)
            mentioned |= {key(tags.family, ident) for ident in used}
        return mentioned

    def _personal(self, focus: Focus, mentioned: set[str]) -> dict[str, float]:
        """Where the ranking's random surfer restarts: the focus files above all; files defining
        the symbols the focus names; files next to the focus (same folder); and files that use
        the same rare outside names as the focused code (`float(q).is_integer()` copied in two
        modules links neither to the other, but both use `.is_integer`: the clones a refactor
        must find)."""
        graph = self.graph
        personal: dict[str, float] = {p: _FOCUS_WEIGHT for p in focus.paths if p in graph.tags}
        if not personal and not focus.symbols:
            return {}

        def add(path: str, weight: float) -> None:
            if path not in focus.paths:
                personal[path] = personal.get(path, 0.0) + weight

        families = {tags.family for tags in graph.tags.values()}
        for name in focus.symbols:
            for family in families:
                for definer in graph.definers.get(key(family, name.rsplit(".", 1)[-1]), ()):
                    add(definer, _NAMED_WEIGHT)
        # What uses the focused definitions: the callers a rename or a signature change must
        # follow (the graph's edges only lead from a file to what it uses).
        for ident in self._focused_definitions(focus):
            for user in graph.users.get(ident, ()):
                add(user, _CALLER_WEIGHT)
        folders = {posixpath.dirname(p) for p in focus.paths}
        for path in graph.tags:
            if posixpath.dirname(path) in folders:
                add(path, _SIBLING_WEIGHT)
        for ident in mentioned:
            users = graph.users.get(ident)
            if ident in graph.definers or not users or len(users) > _RARE_USERS:
                continue
            for user in users:
                add(user, _SHARED_WEIGHT / len(users))
        return personal

    def _focused_definitions(self, focus: Focus) -> set[str]:
        """Graph keys of the definitions the focus is on (named, or holding a focus line)."""
        keys: set[str] = set()
        for path in focus.paths:
            tags = self.graph.tags.get(path)
            if tags is None:
                continue
            chosen = {s for s in tags.symbols if s.qualname in focus.symbols or s.name in focus.symbols}
            # The innermost definition around each line: the method, not its whole class.
            chosen |= {s for line in focus.lines.get(path, []) if (s := tags.around(line)) is not None}
            defined = tags.defines
            for symbol in chosen:
                keys |= {key(tags.family, i) for i in (symbol.name, "." + symbol.name) if i in defined}
        return keys

    def _focused(self, focus: Focus, symbol: Symbol) -> float:
        if symbol.path in focus.paths:
            if symbol.qualname in focus.symbols or symbol.name in focus.symbols:
                return _FOCUS_BOOST
            lines = focus.lines.get(symbol.path, [])
            if any(symbol.first_line <= line <= symbol.end_line for line in lines):
                return _FOCUS_BOOST
            tags = self.graph.tags.get(symbol.path)
            if tags is not None and any(tags.around(line) == symbol for line in lines):
                return _FOCUS_BOOST
        elif symbol.qualname in focus.symbols or symbol.name in focus.symbols:
            return _NAMED_BOOST
        return 0.0

    def rank(self, focus: Focus | None = None) -> list[RankedFile]:
        """Every mapped file, most relevant to the focus first, with its definitions ranked."""
        focus = focus or Focus()
        with self._lock:
            mentioned = self._mentioned(focus)
            personal = self._personal(focus, mentioned)
            file_rank, definitions = self.graph.rank(personal, mentioned, set(focus.paths))
            ranked: list[RankedFile] = []
            for path, tags in self.graph.tags.items():
                score = file_rank.get(path, 0.0)
                scored = [
                    # Unreferenced definitions still follow their file's rank, a little.
                    (
                        s,
                        definitions.get((path, key(tags.family, s.name)), 0.0)
                        + definitions.get((path, key(tags.family, "." + s.name)), 0.0)
                        + score * 1e-3
                        + self._focused(focus, s),
                    )
                    for s in tags.symbols
                ]
                scored.sort(key=lambda item: (-item[1], item[0].line))
                ranked.append(RankedFile(path, score, scored))
        ranked.sort(key=lambda f: (-(f.score + (_FOCUS_BOOST if f.path in focus.paths else 0.0)), f.path))
        return ranked

    def render(self, focus: Focus | None, budget_tokens: int) -> str:
        """The map text for the focus within `budget_tokens`: the focus files first, then the
        definitions by rank, as many as fit."""
        focus = focus or Focus()
        ranked = self.rank(focus)
        order = {f.path: i for i, f in enumerate(ranked)}
        always = [Entry(p, None) for p in focus.paths if p in order]
        items: list[tuple[float, int, int, Entry]] = []
        for i, f in enumerate(ranked):
            if not f.symbols:
                items.append((f.score, i, 0, Entry(f.path, None)))  # a file with no definitions: its path
            for j, (symbol, score) in enumerate(f.symbols):
                # A file ranks by itself too (what uses the focus, what the focus's neighbours
                # use): it comes in with its best definition at no less than its own rank.
                items.append((max(score, f.score) if j == 0 else score, i, symbol.line, Entry(f.path, symbol)))
        items.sort(key=lambda item: (-item[0], item[1], item[2]))
        return fit(always, [item[3] for item in items], order, budget_tokens)


class Watcher:
    """Applies file changes to a RepoMap from a watchfiles thread until stopped."""

    def __init__(self, repo: RepoMap, *, debounce_ms: int = 200, force_polling: bool | None = None) -> None:
        self.repo = repo
        self.batches = 0  # change batches applied
        self.error = ""  # why the watch ended early, if it did
        self._stop = threading.Event()
        self._debounce_ms = debounce_ms
        self._force_polling = force_polling
        self._thread = threading.Thread(target=self._run, name=f"repomap-watch {repo.root}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from watchfiles import watch

        try:
            for changes in watch(
                self.repo.root,
                stop_event=self._stop,
                debounce=self._debounce_ms,
                force_polling=self._force_polling,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                try:
                    self.repo.update(Path(path) for _, path in changes)
                    self.batches += 1
                except Exception as exc:  # one bad batch must not end the watch
                    log.warning("repo map update failed: %s", exc)
        except Exception as exc:  # the folder vanished, inotify ran out, …
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("repo map watch of %s ended: %s", self.repo.root, self.error)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
