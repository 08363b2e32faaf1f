"""The codebase map agents start from: files, symbols (Python through `ast`, JavaScript,
TypeScript, Go, Rust, Java and C/C++ through tree-sitter), the reference graph between files,
its ranking for a task (personalised PageRank, as Aider's repo map), the text fitted to a token
budget, and updates from file changes. See docs/agents.md, "Context builder"."""

from __future__ import annotations

from .cache import MapCache
from .focus import Focus
from .repomap import RankedFile, RepoMap, Watcher
from .symbols import FileTags, Symbol

__all__ = ["FileTags", "Focus", "MapCache", "RankedFile", "RepoMap", "Symbol", "Watcher"]
