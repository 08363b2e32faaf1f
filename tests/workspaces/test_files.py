"""FileStore on real volumes: a btrfs loop volume (subvolume snapshots), an XFS reflink loop
volume, overlayfs on the host's ext4, and the labelled copy; isolation between trees, names,
symlinks and modes kept, bad ids, missing sources, deleting twice, a tree written to while it
is snapshotted, a full disk, and the crash cleanup."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, NotFound
from codeforge.platform.workspaces.files import COPY_LABEL, FileStore
from codeforge.platform.workspaces.files.common import is_mounted
from tests.conftest import require

METHODS = ["btrfs-snapshot", "reflink", "overlayfs", "copy"]
ODD = "naïve café — 日本 ü.txt"  # unicode and spaces in one name


def _mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [f.split()[4] for f in lines if f.split()[4].startswith(str(path.resolve()) + "/")]


def _release(root: Path) -> None:
    for mount in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


@pytest.fixture(params=METHODS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    method = request.param
    if method == "btrfs-snapshot":
        root = request.getfixturevalue("btrfs_volume") / uuid.uuid4().hex
    elif method == "reflink":
        root = request.getfixturevalue("xfs_volume") / uuid.uuid4().hex
    else:
        root = tmp_path / "files"
    made = FileStore(root, method="copy" if method == "copy" else None)
    assert made.method == method, f"{root} chose {made.method}"
    try:
        yield made
    finally:
        for kind in ("ws", "snap"):
            for tree in (root / kind).glob("*"):
                made.delete(tree)
        _release(root)
        assert _mounts_under(root) == []


def _fill(tree: Path) -> None:
    (tree / "src" / "deep").mkdir(parents=True)
    (tree / "src" / "deep" / "main.py").write_text("print('a')\n")
    (tree / ODD).write_text("odd name\n")
    (tree / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "run.sh").chmod(0o750)
    (tree / "secret").write_text("s")
    (tree / "secret").chmod(0o600)
    (tree / "private").mkdir(mode=0o700)
    (tree / "private").chmod(0o700)
    (tree / "link").symlink_to("src/deep/main.py")
    (tree / "dangling").symlink_to("/nowhere/at/all")
    (tree / "big.bin").write_bytes(os.urandom(300_000))


def _listing(tree: Path) -> dict[str, tuple[int, str]]:
    """Every entry's mode and content (or link target)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(tree.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            value = "-> " + os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            value = "dir"
        else:
            value = str(hash(path.read_bytes()))
        out[str(path.relative_to(tree))] = (stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode), value)
    return out


def test_the_method_is_chosen_once_and_said(store: FileStore) -> None:
    if store.method == "copy":
        assert store.advice and COPY_LABEL in store.advice and "mkfs.btrfs" in store.advice
        assert str(store.root) in store.advice and COPY_LABEL in store.label
    else:
        assert store.advice is None and "copy-on-write" in store.label
    again = FileStore(store.root)  # recorded for the volume: not chosen again
    assert again.method == store.method
    other = "copy" if store.method != "copy" else "overlayfs"
    with pytest.raises(Conflict, match=store.method):
        FileStore(store.root, method=other)
    with pytest.raises(BadInput):
        FileStore(store.root, method="zfs")


def test_clones_and_snapshots_are_isolated_and_keep_names_links_modes(store: FileStore, tmp_path: Path) -> None:
    a = store.make("a")
    assert a == store.root / "ws" / "a" and list(a.iterdir()) == []
    _fill(a)
    original = _listing(a)
    snap = store.snapshot("a", "s1")
    assert _listing(snap) == original
    b = store.clone(snap, "b")
    c = store.clone(a, "c")  # from the live tree
    assert _listing(b) == original and _listing(c) == original
    assert _listing(a) == original  # a snapshot or clone does not disturb the source
    assert (c / "link").read_text() == "print('a')\n" and (c / ODD).read_text() == "odd name\n"

    (a / "src" / "deep" / "main.py").write_text("changed in a\n")
    (a / "new-in-a").write_text("a")
    (b / ODD).write_text("changed in b\n")
    (b / "big.bin").unlink()
    (c / "run.sh").chmod(0o700)
    (c / "private" / "x").write_text("c")
    assert _listing(snap) == original
    assert (b / "src" / "deep" / "main.py").read_text() == "print('a')\n" and not (b / "new-in-a").exists()
    assert (a / ODD).read_text() == "odd name\n" and (a / "big.bin").exists() and (c / "big.bin").exists()
    assert stat.S_IMODE((a / "run.sh").stat().st_mode) == 0o750 and not (a / "private" / "x").exists()

    if store.method in ("btrfs-snapshot", "overlayfs"):  # read-only where the method allows
        with pytest.raises(OSError):
            (snap / "intruder").write_text("x")
    d = store.clone(b, "d")  # a clone of a clone sees the clone's changes, not the source's
    assert (d / ODD).read_text() == "changed in b\n" and not (d / "big.bin").exists()
    outside = tmp_path / "template folder"
    outside.mkdir()
    (outside / "README ü.md").write_text("hello")
    e = store.clone(outside, "from-template")
    assert (e / "README ü.md").read_text() == "hello"


def test_bad_ids_missing_sources_and_existing_targets(store: FileStore, tmp_path: Path) -> None:
    for bad in ["../escape", "a/b", "", ".", "..", "x.partial", "-rf", "a..b", "x" * 200, 5]:
        with pytest.raises(BadInput) as caught:
            store.make(bad)  # type: ignore[arg-type]
        assert caught.value.errors[0].field == "ws_id"
    store.make("a")
    with pytest.raises(BadInput, match="snap_id"):
        store.snapshot("a", "../../etc")
    assert not (tmp_path / "escape").exists() and sorted(p.name for p in (store.root / "ws").iterdir()) == ["a"]
    with pytest.raises(NotFound):
        store.snapshot("nope", "s")
    with pytest.raises(NotFound):
        store.clone(store.root / "snap" / "nope", "b")
    with pytest.raises(NotFound):
        store.clone(tmp_path / "no such folder", "b")
    with pytest.raises(Conflict):
        store.make("a")
    with pytest.raises(BadInput):
        store.delete(tmp_path)  # nothing outside the store's trees is deleted
    assert tmp_path.exists()
    assert not (store.root / "ws" / "b").exists() and not list((store.root / "ws").glob("*.partial"))


def test_delete_is_idempotent_and_keeps_what_others_share(store: FileStore) -> None:
    a = store.make("a")
    (a / "f").write_text("1")
    snap = store.snapshot("a", "s")
    b = store.clone(snap, "b")
    for path in (snap, a, snap, a):  # twice each
        store.delete(path)
        assert not path.exists() and not is_mounted(path)
    assert (b / "f").read_text() == "1"  # its layers or blocks outlive the snapshot and the source
    (b / "f").write_text("2")
    store.delete(b)
    store.delete(b)
    assert list((store.root / "ws").iterdir()) == [] and list((store.root / "snap").iterdir()) == []
    if store.method == "overlayfs":
        assert sorted(p.name for p in (store.root / ".overlay" / "layers").iterdir()) == ["base", "base-2"]


def test_usage_counts_the_files(store: FileStore, tmp_path: Path) -> None:
    a = store.make("a")
    empty = store.usage(a)
    (a / "one-mb").write_bytes(b"x" * 1_000_000)
    assert 1_000_000 <= store.usage(a) - empty < 1_100_000
    with pytest.raises(BadInput):
        store.usage(tmp_path)
    with pytest.raises(NotFound):
        store.usage(store.root / "ws" / "gone")


def test_a_snapshot_of_a_tree_being_written_to(store: FileStore) -> None:
    a = store.make("a")
    stop = threading.Event()
    written = [0]

    def writer() -> None:  # keeps a file open in the tree (an overlay tree cannot be unmounted)
        with (a / "log.txt").open("a") as fh:
            while not stop.is_set():
                fh.write(f"line {written[0]}\n")
                fh.flush()
                written[0] += 1
                if written[0] % 50 == 0:
                    (a / f"file-{written[0]}").write_text(str(written[0]))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 500:
            time.sleep(0.01)
        snap = store.snapshot("a", "mid")
        frozen = _listing(snap)
        before = written[0]
        while written[0] < before + 500:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert _listing(snap) == frozen  # later writes do not reach the snapshot
    lines = (snap / "log.txt").read_text().splitlines()
    assert len(lines) >= 500 and lines == [f"line {i}" for i in range(len(lines))]
    live = (a / "log.txt").read_text().splitlines()
    assert len(live) == written[0] > len(lines)  # the tree kept being written, all of it kept
    clone = store.clone(snap, "after")
    assert (clone / "log.txt").read_text().splitlines() == lines


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.partial") if "/.overlay/layers/base" not in str(p)]


def test_sweep_removes_half_made_trees(store: FileStore) -> None:
    a = store.make("a")
    (a / "keep").write_text("k")
    store.snapshot("a", "s")
    # What a process killed mid-clone or mid-snapshot leaves, made the way each method makes it.
    if store.method == "overlayfs":
        half = store.root / ".overlay" / "trees" / "ws" / "b.partial"
        (half / "upper").mkdir(parents=True)
        (store.root / ".overlay" / "layers" / "deadbeef.partial").mkdir()
        (store.root / ".overlay" / "layers" / "orphan").mkdir()  # a layer no tree names
    elif store.method == "btrfs-snapshot":
        subprocess.run(
            ["btrfs", "-q", "subvolume", "snapshot", "-r", str(a), str(store.root / "snap" / "t.partial")], check=True
        )
        subprocess.run(
            ["btrfs", "-q", "subvolume", "snapshot", str(a), str(store.root / "ws" / "b.partial")], check=True
        )
    else:
        subprocess.run(["cp", "-a", str(a), str(store.root / "ws" / "b.partial")], check=True)
        (store.root / "snap" / "t.partial").mkdir()
    removed = store.sweep()
    assert removed and _partials(store.root) == []
    assert (a / "keep").read_text() == "k" and (store.root / "snap" / "s" / "keep").read_text() == "k"
    assert store.sweep() == []  # nothing more the second time
    b = store.clone(store.root / "snap" / "s", "b")  # the ids are usable again
    assert (b / "keep").exists()


def test_overlay_trees_come_back_after_a_reboot(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    require(
        "overlayfs", store.method == "overlayfs", f"overlay mounts do not work here: {tmp_path} chose {store.method}"
    )
    try:
        a = store.make("a")
        (a / "f").write_text("1")
        snap = store.snapshot("a", "s")
        _release(store.root)  # what a reboot does to the mounts
        assert not (a / "f").exists()
        store = FileStore(store.root)
        store.sweep()
        assert (a / "f").read_text() == "1" and (snap / "f").read_text() == "1"
        (a / "f").write_text("2")
        assert (snap / "f").read_text() == "1"
    finally:
        _release(tmp_path)


def test_overlay_chains_are_capped_and_squashed(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", overlay_cap=3)
    require(
        "overlayfs", store.method == "overlayfs", f"overlay mounts do not work here: {tmp_path} chose {store.method}"
    )
    try:
        a = store.make("a")
        (a / "doomed").write_text("x")
        for i in range(7):
            (a / f"f{i}").write_text(str(i))
            if i == 2:
                (a / "doomed").unlink()  # a whiteout in a layer that is later squashed
            store.snapshot("a", f"s{i}")
            chain = json.loads((store.root / ".overlay" / "trees" / "ws" / "a" / "lowers.json").read_text())
            assert len(chain) <= 3
        for i in range(7):
            snap = store.root / "snap" / f"s{i}"
            assert sorted(p.name for p in snap.iterdir() if p.name.startswith("f")) == [f"f{j}" for j in range(i + 1)]
            assert (snap / "doomed").exists() == (i < 2)
        assert not (a / "doomed").exists() and (a / "f6").read_text() == "6"
        for i in range(7):
            store.delete(store.root / "snap" / f"s{i}")
        store.delete(a)
        assert sorted(p.name for p in (store.root / ".overlay" / "layers").iterdir()) == ["base", "base-2"]
    finally:
        _release(tmp_path)


@pytest.mark.parametrize("method", ["copy", "overlayfs"])
def test_a_full_disk_leaves_nothing_half_made(method: str, small_tmpfs: Callable[[str], Path], tmp_path: Path) -> None:
    root = small_tmpfs("8M") / "files"
    store = FileStore(root, method="copy" if method == "copy" else None)
    require(method, store.method == method, f"{method} does not work on a tmpfs here: it chose {store.method}")
    a = store.make("a")
    for i in range(5):
        (a / f"chunk {i}").write_bytes(os.urandom(1_000_000))
    big = tmp_path / "big template"
    big.mkdir()
    (big / "large").write_bytes(os.urandom(6_000_000))
    attempts: list[Callable[[], Path]] = [lambda: store.clone(big, "from-big")]
    if method == "copy":
        attempts += [lambda: store.clone(a, "b"), lambda: store.snapshot("a", "s")]
    for attempt in attempts:
        with pytest.raises(ExternalFailure, match="no space left"):
            attempt()
        assert _partials(root) == []
        assert sorted(p.name for p in (root / "ws").iterdir()) == ["a"] and list((root / "snap").iterdir()) == []
    if method == "overlayfs":
        assert sorted(p.name for p in (root / ".overlay" / "layers").iterdir()) == ["base", "base-2"]
    for i in range(3):
        (a / f"chunk {i}").unlink()
    b = store.clone(a, "b")  # with room again, it works
    assert sorted(p.name for p in b.iterdir()) == ["chunk 3", "chunk 4"]
    store.delete(b)
    store.delete(a)


def test_a_process_killed_mid_clone_leaves_only_what_sweep_removes(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", method="copy")
    a = store.make("a")
    for i in range(3000):
        (a / f"f{i:05}").write_bytes(os.urandom(2000))
    script = (
        "import sys; from pathlib import Path; from codeforge.platform.workspaces.files import FileStore\n"
        "FileStore(Path(sys.argv[1])).clone(Path(sys.argv[1]) / 'ws' / 'a', 'b')\n"
    )
    # Its own process group, killed whole: as a platform's service (cgroup) dies with its `cp`.
    proc = subprocess.Popen([sys.executable, "-c", script, str(store.root)], start_new_session=True)
    partial = store.root / "ws" / "b.partial"
    deadline = time.monotonic() + 30
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists(), "the clone ended before it could be killed mid-way"
    assert not (store.root / "ws" / "b").exists()  # a killed clone is never seen as a tree
    assert store.sweep() == [partial] and not partial.exists()
    assert len(list(store.clone(a, "b").iterdir())) == 3000
