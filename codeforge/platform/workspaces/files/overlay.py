"""Workspace trees as overlayfs layers, for volumes that neither snapshot nor clone files
(ext4, tmpfs) but where overlay mounts work. A live tree `ws/<id>` is an overlay of its own
`upper/` over a chain of frozen, shared lowers; a snapshot freezes the upper as a new lower
(a rename when the tree can be unmounted, a copy of the upper's changes when a process holds
it) and is mounted read-only from the chain. Chains longer than `cap` are squashed into one
layer. State under `.overlay/`: `layers/<layer>/`, `trees/{ws,snap}/<id>/` (`lowers.json`,
top first; `upper/` and `work/` for live trees). Every layer a tree's `lowers.json` names is
kept; the others are removed (`gc`)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from codeforge.catalog.errors import ExternalFailure
from codeforge.platform.workspaces.files.common import (
    PARTIAL,
    copy_tree,
    is_mounted,
    new_id,
    os_failure,
    remove_tree,
    run,
    unmount,
)

__all__ = ["Layers", "overlay_works"]

BASE = "base"  # an empty bottom layer: a mount without an upper needs two lowers
BASE_2 = "base-2"  # a second one, for a read-only tree whose chain is empty (a never-written tree)


def overlay_works(directory: Path) -> str | None:
    """None when overlay mounts work with layers in `directory`; else why not."""
    probe = directory / f".cf-overlay-probe-{new_id()}"
    try:
        for d in ("l", "u", "w", "m"):
            (probe / d).mkdir(parents=True)
        opts = f"lowerdir={probe / 'l'},upperdir={probe / 'u'},workdir={probe / 'w'}"
        if any(c in str(probe) for c in ",:"):
            return f"{directory} holds ',' or ':' which overlay options cannot carry"
        run(["mount", "-t", "overlay", "overlay", "-o", opts, str(probe / "m")], directory, "an overlay mount")
        try:
            (probe / "m" / "x").write_text("x")
        finally:
            unmount(probe / "m", directory, lazy=True)
        return None
    except (OSError, ExternalFailure) as exc:
        return f"overlay mounts fail there ({getattr(exc, 'detail', exc)})"
    finally:
        if probe.exists():
            unmount(probe / "m", directory, lazy=True)
            remove_tree(probe)


class Layers:
    def __init__(self, root: Path, cap: int = 16) -> None:
        self.root = root
        self.cap = cap
        self.layers = root / ".overlay" / "layers"
        self.trees = root / ".overlay" / "trees"
        self.lock = threading.RLock()  # freezes, squashes and gc must not interleave
        (self.layers / BASE).mkdir(parents=True, exist_ok=True)
        (self.layers / BASE_2).mkdir(parents=True, exist_ok=True)

    # -- state ---------------------------------------------------------------------------
    def meta(self, kind: str, tree_id: str) -> Path:
        return self.trees / kind / tree_id

    def lowers(self, kind: str, tree_id: str) -> list[str]:
        return [str(x) for x in json.loads((self.meta(kind, tree_id) / "lowers.json").read_text())]

    def _write_lowers(self, meta: Path, lowers: list[str]) -> None:
        tmp = meta / f"lowers.json{PARTIAL}"
        tmp.write_text(json.dumps(lowers))
        os.replace(tmp, meta / "lowers.json")  # atomic: a crash leaves the old chain or the new

    def _mount(self, kind: str, tree_id: str, target: Path) -> None:
        meta = self.meta(kind, tree_id)
        chain = [*self.lowers(kind, tree_id), BASE]
        if kind != "ws" and len(chain) < 2:
            chain.append(BASE_2)
        lower = ":".join(str(self.layers / name) for name in chain)
        if kind == "ws":
            opts = f"lowerdir={lower},upperdir={meta / 'upper'},workdir={meta / 'work'}"
        else:
            opts = f"ro,lowerdir={lower}"
        run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)], self.root, f"mounting {target}")

    # -- building ------------------------------------------------------------------------
    def create(self, kind: str, tree_id: str, lowers: list[str], target: Path) -> None:
        """A tree over `lowers` mounted at `target`: its state is made under a `.partial`
        name and renamed, then the mount point is made and mounted."""
        with self.lock:
            lowers = self._squashed(lowers)
            meta = self.meta(kind, tree_id)
            partial = meta.with_name(tree_id + PARTIAL)
            try:
                partial.mkdir(parents=True)
                if kind == "ws":
                    (partial / "upper").mkdir()
                    (partial / "work").mkdir()
                self._write_lowers(partial, lowers)
                partial.rename(meta)
                target.mkdir()
                self._mount(kind, tree_id, target)
            except BaseException:
                unmount(target, self.root, lazy=True)
                for p in (partial, meta):
                    remove_tree(p)
                if target.is_dir() and not is_mounted(target):
                    target.rmdir()
                self.gc()
                raise

    def import_tree(self, source: Path) -> list[str]:
        """A chain of one layer holding a copy of a tree from elsewhere (a template folder)."""
        with self.lock:
            name = new_id()
            self._layer_from(source, name)
            return [name]

    def _layer_from(self, source: Path, name: str) -> None:
        partial = self.layers / (name + PARTIAL)
        try:
            copy_tree(source, partial, self.root, reflink="auto")
            partial.rename(self.layers / name)
        except BaseException:
            remove_tree(partial)
            raise

    def freeze(self, ws_id: str, target: Path) -> list[str]:
        """The chain that holds the live tree as it is now. Its upper becomes a lower (the
        tree is unmounted, the upper renamed, a fresh upper mounted over the longer chain);
        when a process holds the tree, its upper is copied into a new layer instead and the
        live tree keeps its own. An unchanged tree gives its chain as it is."""
        with self.lock:
            meta = self.meta("ws", ws_id)
            lowers = self.lowers("ws", ws_id)
            if not any((meta / "upper").iterdir()):
                return lowers
            name = new_id()
            if not unmount(target, self.root):
                self._layer_from(meta / "upper", name)
                return self._squashed([name, *lowers])
            try:
                # Chain first, then the rename: a crash between leaves a chain naming a missing
                # top layer and the upper holding it, which repair() completes.
                self._write_lowers(meta, [name, *lowers])
                (meta / "upper").rename(self.layers / name)
                (meta / "upper").mkdir()
                remove_tree(meta / "work")
                (meta / "work").mkdir()
                chain = self._squashed([name, *lowers])
                if chain != [name, *lowers]:
                    self._write_lowers(meta, chain)
            finally:
                self.repair("ws", ws_id)
                self._mount("ws", ws_id, target)
            self.gc()
            return chain

    def _squashed(self, chain: list[str]) -> list[str]:
        """`chain`, or one layer with the same merged contents when it is longer than the cap."""
        if len(chain) <= self.cap:
            return chain
        view = self.root / ".overlay" / f"squash-{new_id()}{PARTIAL}"
        view.mkdir()
        try:
            lower = ":".join(str(self.layers / n) for n in [*chain, BASE])
            run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", str(view)], self.root, "squashing")
            try:
                name = new_id()
                self._layer_from(view, name)
            finally:
                unmount(view, self.root, lazy=True)
        finally:
            remove_tree(view)
        return [name]

    # -- cleanup -------------------------------------------------------------------------
    def repair(self, kind: str, tree_id: str) -> None:
        meta = self.meta(kind, tree_id)
        if kind != "ws":
            return
        lowers = self.lowers(kind, tree_id)
        if lowers and not (self.layers / lowers[0]).exists() and (meta / "upper").exists():
            (meta / "upper").rename(self.layers / lowers[0])  # a freeze stopped half-way
        for d in ("upper", "work"):
            (meta / d).mkdir(exist_ok=True)

    def remove(self, kind: str, tree_id: str, target: Path) -> None:
        with self.lock:
            # Unmount, forget, then remove: a crash half-way leaves either a whole tree that
            # sweep() mounts again or a mount point without a tree that sweep() removes.
            unmount(target, self.root, lazy=True)
            remove_tree(self.meta(kind, tree_id))
            remove_tree(target)
            self.gc()

    def gc(self) -> list[Path]:
        """Remove layers no tree names (and half-made ones); returns what it removed."""
        with self.lock:
            used = {BASE, BASE_2}
            for kind_dir in self.trees.glob("*"):
                for meta in kind_dir.iterdir():
                    try:
                        used.update(self.lowers(kind_dir.name, meta.name))
                    except (OSError, ValueError):
                        continue
            gone = [p for p in self.layers.iterdir() if p.name not in used]
            for path in gone:
                remove_tree(path)
            return gone

    def sweep(self) -> list[Path]:
        """After a crash or a reboot: half-made state removed, every complete tree mounted
        again, and mount points no tree owns (a delete stopped half-way) removed."""
        removed: list[Path] = []
        with self.lock:
            for scratch in (self.root / ".overlay").glob(f"squash-*{PARTIAL}"):
                unmount(scratch, self.root, lazy=True)
                remove_tree(scratch)
                removed.append(scratch)
            for kind in ("ws", "snap"):
                for meta in list((self.trees / kind).glob("*")):
                    if meta.name.endswith(PARTIAL) or not (meta / "lowers.json").exists():
                        remove_tree(meta)
                        removed.append(meta)
                        continue
                    target = self.root / kind / meta.name
                    try:
                        self.repair(kind, meta.name)
                        if not is_mounted(target):
                            target.mkdir(parents=True, exist_ok=True)
                            self._mount(kind, meta.name, target)
                    except OSError as exc:
                        raise os_failure(self.root, f"mounting {target} again", exc) from exc
                for target in list((self.root / kind).glob("*")):
                    if not self.meta(kind, target.name).exists():
                        unmount(target, self.root, lazy=True)
                        remove_tree(target)
                        removed.append(target)
            removed += self.gc()
        return removed
