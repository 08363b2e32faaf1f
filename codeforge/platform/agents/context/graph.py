"""The reference graph between files and its personalised PageRank, as Aider's repo map has it.

File A has an edge to file B for every identifier A uses that B defines, weighted by how often
A uses it (square root, so one chatty file does not dominate) and by how telling the identifier
is: long snake_case/camelCase names count ten times, `_private` ones and calls of the methods
builtin objects have (`.append`, `.join`) a tenth; a name's weight
is shared among the files defining it, and names defined in more than five files count a tenth
on top (`get`, `run`, `__init__` say little about where to look).

The graph is kept as (source → target → identifier → weight) so that a changed file is handled
alone: its edges in and out are dropped and added again from the indexes (who defines and who
uses each identifier), and only identifiers the file started or stopped defining are reweighed
everywhere. Nothing is summed incrementally, so an updated graph equals a
freshly built one exactly; totals are taken at ranking time, in sorted order."""

from __future__ import annotations

import math
from collections.abc import Collection
from functools import lru_cache

import numpy as np

from .symbols import MODULE_PREFIX, FileTags

__all__ = ["ReferenceGraph", "key"]

_COMMON_DEFINERS = 5
_MODULE_WEIGHT = 3.0  # an import names the file it needs outright
_FOCUS_IDENT = 10.0  # identifiers the focus touches
_FOCUS_SOURCE = 50.0  # edges out of the focus files
_DAMPING = 0.85


def _multiplier(ident: str, definers: int) -> float:
    # A use names one definition: it is shared among the files defining that name.
    weight = _name_weight(ident) / max(1, definers)
    return weight * 0.1 if definers > _COMMON_DEFINERS else weight


def key(family: str, ident: str) -> str:
    """The graph's name for an identifier of a language family."""
    return f"{family}:{ident}"


# Method names every program calls on builtin objects (`parts.append`, `", ".join`, `log.warning`,
# `path.read_text`): a class of the workspace defining one is seldom what such a call means.
_BUILTIN_METHODS = frozenset(
    name for t in (str, bytes, list, dict, set, tuple, int, float, object, memoryview) for name in dir(t)
) | frozenset(
    (
        *("read", "write", "close", "flush", "seek", "readline", "readlines", "open", "exists", "mkdir"),
        *("unlink", "read_text", "write_text", "read_bytes", "write_bytes", "put", "send", "recv"),
        *("acquire", "release", "wait", "set", "start", "run", "cancel", "result", "done", "sleep"),
        *("info", "debug", "warning", "error", "exception", "critical", "log", "match", "search", "sub"),
        *("group", "groups"),
    )
)
# Languages whose files name the files they import (MODULE_PREFIX identifiers): there a method
# call into a file the caller does not import is a guess by name, worth less.
_IMPORTING = frozenset({"python", "javascript"})
_UNIMPORTED_MEMBER = 0.3


@lru_cache(maxsize=65536)
def _name_weight(ident: str) -> float:
    ident = ident.partition(":")[2]  # the family is no part of the name
    if ident.startswith(MODULE_PREFIX):
        weight = _MODULE_WEIGHT
    elif ident.startswith(".") and ident[1:] in _BUILTIN_METHODS:
        weight = 0.1
    else:
        ident = ident.removeprefix(".")
        weight = 1.0
        is_snake = "_" in ident.strip("_") and any(c.isalpha() for c in ident)
        is_camel = any(c.isupper() for c in ident) and any(c.islower() for c in ident)
        if len(ident) >= 8 and (is_snake or is_camel):
            weight *= 10.0
        if ident.startswith("_"):
            weight *= 0.1
    return weight


def _keyed(tags: FileTags | None) -> tuple[dict[str, int], set[str]]:
    if tags is None:
        return {}, set()
    family = tags.family
    return {key(family, i): n for i, n in tags.refs.items()}, {key(family, i) for i in tags.defines}


class ReferenceGraph:
    """Files, who defines and who uses each identifier, and the weighted edges between files."""

    def __init__(self) -> None:
        self.tags: dict[str, FileTags] = {}
        # Identifiers are keyed by language family (`python:Cart`, `javascript:.render`).
        self.definers: dict[str, set[str]] = {}
        self.users: dict[str, dict[str, int]] = {}  # identifier → file → uses
        self.out: dict[str, dict[str, dict[str, float]]] = {}  # source → target → identifier → weight
        self.into: dict[str, set[str]] = {}  # target → sources

    # -- maintenance ------------------------------------------------------------------------

    def _weight(self, ident: str, uses: int) -> float:
        return _multiplier(ident, len(self.definers.get(ident, ()))) * math.sqrt(uses)

    def _link(self, src: str, dst: str, ident: str, uses: int) -> None:
        self.out.setdefault(src, {}).setdefault(dst, {})[ident] = self._weight(ident, uses)
        self.into.setdefault(dst, set()).add(src)

    def set_file(self, path: str, tags: FileTags | None) -> None:
        """Replace what the graph knows of one file (None: the file is gone)."""
        old = self.tags.pop(path, None)
        # Edges in and out of the file go; they are added again below from the indexes.
        for dst in self.out.pop(path, {}):
            self.into[dst].discard(path)
            if not self.into[dst]:
                del self.into[dst]
        for src in self.into.pop(path, set()):
            del self.out[src][path]
            if not self.out[src]:
                del self.out[src]
        old_refs, old_defs = _keyed(old)
        new_refs, new_defs = _keyed(tags)
        if old is not None:
            for ident in old_refs:
                users = self.users[ident]
                del users[path]
                if not users:
                    del self.users[ident]
            for ident in old_defs:
                definers = self.definers[ident]
                definers.discard(path)
                if not definers:
                    del self.definers[ident]
        if tags is not None:
            self.tags[path] = tags
            for ident, uses in new_refs.items():
                self.users.setdefault(ident, {})[path] = uses
            for ident in new_defs:
                self.definers.setdefault(ident, set()).add(path)
        # An identifier defined in one file more or fewer changes weight on all its edges
        # (rare: an edit seldom adds or removes a definition others use).
        for ident in old_defs ^ new_defs:
            self._reweigh(ident)
        if tags is None:
            return
        for ident, uses in new_refs.items():
            for dst in self.definers.get(ident, ()):
                if dst != path:
                    self._link(path, dst, ident, uses)
        for ident in new_defs:
            for src, uses in self.users.get(ident, {}).items():
                if src != path:
                    self._link(src, path, ident, uses)

    def load(self, files: dict[str, FileTags]) -> None:
        """Add many files at once (a build): the indexes first, then every edge once, at its
        final weight (file by file, each new definer would reweigh its name's edges again)."""
        keyed = {path: _keyed(tags) for path, tags in files.items()}
        for path, tags in files.items():
            self.tags[path] = tags
            refs, defs = keyed[path]
            for ident, uses in refs.items():
                self.users.setdefault(ident, {})[path] = uses
            for ident in defs:
                self.definers.setdefault(ident, set()).add(path)
        for path, (refs, _) in keyed.items():
            for ident, uses in refs.items():
                for dst in self.definers.get(ident, ()):
                    if dst != path:
                        self._link(path, dst, ident, uses)

    def _reweigh(self, ident: str) -> None:
        for src, uses in self.users.get(ident, {}).items():
            for dst in self.definers.get(ident, ()):
                if src != dst:
                    self._link(src, dst, ident, uses)

    # -- ranking ----------------------------------------------------------------------------

    def _weighted(
        self, src: str, idents: dict[str, float], mentioned: Collection[str]
    ) -> list[tuple[str, float, float]]:
        """(identifier, weight, factor) of one edge, in a fixed order: the focus's identifiers
        count more, and so does a method call into a file the source imports."""
        imported = self.tags[src].family not in _IMPORTING or any(MODULE_PREFIX in ident for ident in idents)
        return [
            (
                ident,
                w,
                (_FOCUS_IDENT if ident in mentioned else 1.0)
                * (1.0 if imported or ":." not in ident else _UNIMPORTED_MEMBER),
            )
            for ident, w in sorted(idents.items())
        ]

    def rank(
        self, personal: dict[str, float], mentioned: Collection[str], focus_paths: Collection[str]
    ) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
        """PageRank of every file (teleporting to `personal`, uniform when empty) and the rank
        each file passes to each (target file, identifier): how much a definition matters."""
        nodes = sorted(self.tags)
        if not nodes:
            return {}, {}
        index = {path: i for i, path in enumerate(nodes)}
        n = len(nodes)
        src_idx: list[int] = []
        dst_idx: list[int] = []
        weights: list[float] = []
        for src in nodes:
            targets = self.out.get(src)
            if not targets:
                continue
            boost = _FOCUS_SOURCE if src in focus_paths else 1.0
            for dst in sorted(targets):
                total = math.fsum(w * f for _, w, f in self._weighted(src, targets[dst], mentioned))
                src_idx.append(index[src])
                dst_idx.append(index[dst])
                weights.append(total * boost)
        p = np.zeros(n)
        for path, value in personal.items():
            if path in index:
                p[index[path]] += value
        p = p / p.sum() if p.sum() > 0 else np.full(n, 1.0 / n)
        src_a = np.asarray(src_idx, dtype=np.int64)
        dst_a = np.asarray(dst_idx, dtype=np.int64)
        w_a = np.asarray(weights, dtype=np.float64)
        out_sum = np.bincount(src_a, weights=w_a, minlength=n)
        share = w_a / out_sum[src_a] if len(w_a) else w_a
        dangling = out_sum == 0
        ranks = np.full(n, 1.0 / n)
        for _ in range(200):
            spread = np.bincount(dst_a, weights=ranks[src_a] * share, minlength=n)
            new = _DAMPING * (spread + ranks[dangling].sum() * p) + (1 - _DAMPING) * p
            done = np.abs(new - ranks).sum() < 1e-10 * n
            ranks = new
            if done:
                break
        file_rank = {path: float(ranks[i]) for i, path in enumerate(nodes)}
        definitions: dict[tuple[str, str], float] = {}
        for src in nodes:
            targets = self.out.get(src)
            if not targets:
                continue
            boost = _FOCUS_SOURCE if src in focus_paths else 1.0
            total = float(out_sum[index[src]])
            flow = file_rank[src] * boost / total if total else 0.0
            for dst in sorted(targets):
                for ident, w, f in self._weighted(src, targets[dst], mentioned):
                    key = (dst, ident)
                    definitions[key] = definitions.get(key, 0.0) + flow * w * f
        return file_rank, definitions
