"""`FileStore`: the workspaces' trees on one volume (docs/workspaces.md, "Files"). Live trees
are `ws/<id>/`, snapshots `snap/<id>/`. The method is chosen once per volume and recorded in
`.filestore.json` (trees made one way cannot be read another): btrfs subvolume snapshots
where the volume is btrfs, reflink clones where files clone (XFS reflink=1), overlayfs layers
where overlay mounts work, else a plain copy, labelled as slow with the command that fixes it."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.databases.engines import cow
from codeforge.platform.workspaces.files.common import (
    PARTIAL,
    check_id,
    copy_tree,
    du_bytes,
    os_failure,
    remove_tree,
    run,
)
from codeforge.platform.workspaces.files.overlay import Layers, overlay_works

__all__ = ["COPY_LABEL", "METHODS", "FileStore"]

METHODS = ("btrfs-snapshot", "reflink", "overlayfs", "copy")
COPY_LABEL = "a full copy: slow"
_STATE = ".filestore.json"


def _choose(root: Path) -> tuple[str, str]:
    """The best method `root` allows, and why the better ones were not chosen."""
    fs = cow.filesystem_of(root) or "this filesystem"
    if fs == "btrfs" and shutil.which("btrfs"):
        return "btrfs-snapshot", ""
    if cow.supports_reflink(root):
        return "reflink", ""
    why = overlay_works(root)
    if why is None:
        return "overlayfs", ""
    return "copy", f"{root} is on {fs}, which neither snapshots nor clones files, and {why}"


class FileStore:
    def __init__(self, root: Path, *, method: str | None = None, overlay_cap: int = 16) -> None:
        if method is not None and method not in METHODS:
            raise BadInput(
                f"unknown file method {method!r}",
                errors=[FieldProblem("method", f"must be one of {', '.join(METHODS)}", "leave it unset to choose")],
            )
        self.root = root
        try:
            for d in ("ws", "snap"):
                (root / d).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_failure(root, f"making {root}", exc) from exc
        state = root / _STATE
        recorded = json.loads(state.read_text()) if state.exists() else None
        self._why = ""
        if recorded:
            if method and method != recorded["method"]:
                raise Conflict(
                    f"{root} holds trees made with {recorded['method']}, not {method}",
                    fix=f"use another folder for {method}, or leave the method unset",
                )
            self.method, self._why = str(recorded["method"]), str(recorded.get("why", ""))
        else:
            self.method, self._why = _choose(root)
            if method:
                self.method, self._why = method, (f"{method} was asked for" if method == "copy" else "")
            state.write_text(json.dumps({"method": self.method, "why": self._why}))
        self._layers = Layers(root, overlay_cap) if self.method == "overlayfs" else None

    # -- what the user is told -------------------------------------------------------------
    @property
    def label(self) -> str:
        """The method as results and `codeforge up`'s banner show it."""
        return f"copy ({COPY_LABEL})" if self.method == "copy" else f"{self.method} (copy-on-write)"

    @property
    def advice(self) -> str | None:
        """None when clones are copy-on-write; else why not and the command that fixes it."""
        if self.method != "copy":
            return None
        image = self.root.with_name(self.root.name + ".btrfs")
        command = f"sudo sh -c 'truncate -s 20G {image} && mkfs.btrfs -q {image} && mount -o loop {image} {self.root}'"
        return (
            f"workspace clones and snapshots here are {COPY_LABEL} (about 1 s per GB) because {self._why}; "
            f"for copy-on-write clones (constant time) move the workspaces to an empty btrfs volume: stop the "
            f"platform, move {self.root} aside, run `{command}` and move the trees in ws/ and snap/ back "
            f"(not {_STATE}, so the method is chosen again); the database "
            f"branches' volume is made by `sudo {sys.executable} -m codeforge.platform.databases.volume`"
        )

    # -- paths -----------------------------------------------------------------------------
    def tree(self, ws_id: str) -> Path:
        return self.root / "ws" / check_id("ws_id", ws_id)

    def snapshot_path(self, snap_id: str) -> Path:
        return self.root / "snap" / check_id("snap_id", snap_id)

    def _kind_of(self, path: Path) -> tuple[str, str]:
        """Which tree `path` is; nothing outside `ws/` and `snap/` may be deleted or measured."""
        path = Path(path)
        kind = path.parent.name
        if path.parent.parent.resolve() == self.root.resolve() and kind in ("ws", "snap"):
            check_id("path", path.name.removesuffix(PARTIAL))
            return kind, path.name
        raise BadInput(
            f"{path} is not a tree of this store",
            errors=[
                FieldProblem("path", f"must be {self.root}/ws/<id> or {self.root}/snap/<id>", "pass a tree's path")
            ],
        )

    def _new(self, target: Path) -> Path:
        if target.exists() or target.is_symlink():
            raise Conflict(f"{target} exists already", fix="choose another id, or delete it first")
        partial = target.with_name(target.name + PARTIAL)
        if partial.exists():
            self._remove(partial)  # an earlier try of the same id stopped half-way
        return partial

    def _finish(self, partial: Path, target: Path, what: str, build: Callable[[Path], object]) -> Path:
        """Run `build(partial)`, then rename: a failure or a crash leaves only `*.partial`."""
        try:
            build(partial)
            partial.rename(target)
        except OSError as exc:
            self._remove(partial)
            raise os_failure(self.root, what, exc) from exc
        except BaseException:
            self._remove(partial)
            raise
        return target

    # -- operations ------------------------------------------------------------------------
    def make(self, ws_id: str) -> Path:
        """An empty live tree."""
        target = self.tree(ws_id)
        if self._layers:
            self._new(target)
            with self._os_errors(f"making {target}"):
                self._layers.create("ws", ws_id, [], target)
            return target
        return self._finish(self._new(target), target, f"making {target}", lambda p: cow.make_directory(p))

    def snapshot(self, ws_id: str, snap_id: str) -> Path:
        """A frozen copy of live tree `ws_id` (read-only with btrfs and overlayfs)."""
        source = self.tree(ws_id)
        target = self.snapshot_path(snap_id)
        if not source.is_dir():
            raise NotFound(f"workspace tree {ws_id} does not exist", fix="make or clone the workspace first")
        if self._layers:
            self._new(target)
            with self._os_errors(f"snapshotting {source}"):
                self._layers.create("snap", snap_id, self._layers.freeze(ws_id, source), target)
            return target
        return self._finish(self._new(target), target, f"snapshotting {source}", lambda p: self._copy(source, p, True))

    def clone(self, source: Path, ws_id: str) -> Path:
        """A new live tree with `source`'s files: a live tree, a snapshot, or any folder."""
        source = Path(source)
        target = self.tree(ws_id)
        if not source.is_dir():
            raise NotFound(f"clone source {source} does not exist", fix="pass a workspace's or a snapshot's tree")
        if self._layers:
            self._new(target)
            kind = self._kind_or_none(source)
            with self._os_errors(f"cloning {source}"):
                if kind == ("ws", source.name):
                    chain = self._layers.freeze(source.name, source)
                elif kind == ("snap", source.name):
                    chain = self._layers.lowers("snap", source.name)
                else:
                    chain = self._layers.import_tree(source)
                self._layers.create("ws", ws_id, chain, target)
            return target
        return self._finish(self._new(target), target, f"cloning {source}", lambda p: self._copy(source, p, False))

    @contextmanager
    def _os_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:  # a full disk named as such, the others as the step that failed
            raise os_failure(self.root, what, exc) from exc

    def _kind_or_none(self, path: Path) -> tuple[str, str] | None:
        try:
            return self._kind_of(path)
        except BadInput:
            return None

    def _copy(self, source: Path, partial: Path, read_only: bool) -> None:
        if self.method == "btrfs-snapshot" and cow.is_subvolume(source):
            args = ["btrfs", "-q", "subvolume", "snapshot", *(["-r"] if read_only else []), str(source), str(partial)]
            run(args, self.root, f"snapshotting {source}")
        else:
            # Clones share blocks only within one filesystem; a folder from elsewhere is copied.
            same = source.stat().st_dev == self.root.stat().st_dev
            copy_tree(source, partial, self.root, reflink="always" if self.method == "reflink" and same else "auto")

    def delete(self, path: Path) -> None:
        """Remove a tree (live, snapshot or half-made); gone already is fine."""
        kind, name = self._kind_of(path)
        if self._layers and not name.endswith(PARTIAL):
            self._layers.remove(kind, name, Path(path))
            return
        self._remove(Path(path))

    def _remove(self, path: Path) -> None:
        try:  # subvolumes (read-only snapshots too) go the btrfs way, plain trees by rmtree
            cow.delete_tree(path) if path.is_dir() and not path.is_symlink() else remove_tree(path)
        except OSError as exc:
            raise ExternalFailure(f"deleting {path} failed: {exc}", fix=f"check {path}'s mounts") from exc

    def usage(self, path: Path) -> int:
        """Bytes the tree's files hold (for the workspace's disk limit)."""
        self._kind_of(path)
        if not Path(path).is_dir():
            raise NotFound(f"tree {path} does not exist", fix="list the workspaces")
        return du_bytes(Path(path), self.root)

    def sweep(self) -> list[Path]:
        """The crash cleanup: half-made `*.partial` trees removed (overlay: every complete
        tree mounted again after a reboot). Returns what it removed."""
        removed = []
        for kind in ("ws", "snap"):
            for partial in (self.root / kind).glob(f"*{PARTIAL}"):
                self._remove(partial)
                removed.append(partial)
        if self._layers:
            removed += self._layers.sweep()
        return removed
