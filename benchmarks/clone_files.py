"""Workspace file clones (docs/workspaces.md, "Files"): `FileStore.clone` and
`FileStore.snapshot` of a generated tree, per method this machine supports, against `cp -a`
of the same tree on the same volume in the same run.

The tree: `--files` small files (`--file-kb` each, random bytes, 100 per folder) plus
`--large` files of `--large-mb` each. Methods: btrfs-snapshot on a btrfs loop volume,
reflink on an XFS loop volume made with reflink=1, overlayfs and copy in a folder on the
host's filesystem (`--dir`, default a temporary folder). Each figure is the best of
`--repeat` runs (fresh targets each time, the source's pages warm for every contender);
`ratio` is the method's time over `cp -a`'s. coreutils 9's `cp -a` clones blocks where
the filesystem can (btrfs, XFS), so `cp -a --reflink=never` (a full copy) is timed as well. Needs root (loop and overlay mounts).

    .venv/bin/python -m benchmarks.clone_files [--files 50000] [--file-kb 2] [--large 3]
        [--large-mb 100] [--repeat 3] [--dir /var/tmp] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import CodeForgeError
from codeforge.platform.workspaces.files import FileStore


def _generate(tree: Path, files: int, file_kb: int, large: int, large_mb: int) -> int:
    total = 0
    for i in range(files):
        folder = tree / f"d{i // 100:04}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = os.urandom(file_kb * 1024)
        (folder / f"f{i:06}.txt").write_bytes(data)
        total += len(data)
    for i in range(large):
        with (tree / f"large-{i}.bin").open("wb") as fh:
            for _ in range(large_mb):
                fh.write(os.urandom(1 << 20))
        total += large_mb << 20
    return total


@contextmanager
def _loop_volume(base: Path, mkfs: list[str], size: str) -> Iterator[Path | None]:
    image, mount = base / "volume.img", base / "mnt"
    mount.mkdir(parents=True)
    steps = [["truncate", "-s", size, str(image)], [*mkfs, str(image)], ["mount", "-o", "loop", str(image), str(mount)]]
    for step in steps:
        if subprocess.run(step, capture_output=True).returncode != 0:
            print(f"  skipped: `{' '.join(step[:2])}` failed")
            yield None
            return
    try:
        yield mount
    finally:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            if line.split()[4].startswith(str(mount)):
                subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
        image.unlink(missing_ok=True)


def _best(repeat: int, run: Callable[[int], None], reset: Callable[[int], None]) -> float:
    times = []
    for i in range(repeat):
        subprocess.run(["sync"])
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
        reset(i)
    return min(times)


def _measure(root: Path, method: str | None, args: argparse.Namespace) -> dict[str, Any]:
    store = FileStore(root / "store", method=method)
    source = store.make("src")
    size = _generate(source, args.files, args.file_kb, args.large, args.large_mb)
    subprocess.run(["du", "-s", str(source)], capture_output=True)  # warm the metadata for all
    cp_target = root / "cp-target"
    cp = _best(
        args.repeat,
        lambda i: subprocess.run(["cp", "-a", str(source), str(cp_target)], check=True),
        lambda i: shutil.rmtree(cp_target),
    )
    # coreutils 9 makes `cp -a` clone blocks where it can (--reflink=auto): on btrfs and XFS
    # it is already a reflink copy, so a full copy is timed too.
    full = _best(
        args.repeat,
        lambda i: subprocess.run(["cp", "-a", "--reflink=never", str(source), str(cp_target)], check=True),
        lambda i: shutil.rmtree(cp_target),
    )
    clone = _best(args.repeat, lambda i: store.clone(source, f"c{i}"), lambda i: store.delete(store.tree(f"c{i}")))
    snapshot = _best(
        args.repeat,
        lambda i: store.snapshot("src", f"s{i}"),
        lambda i: store.delete(store.snapshot_path(f"s{i}")),
    )
    from_snapshot_src = store.snapshot("src", "base")
    from_snapshot = _best(
        args.repeat, lambda i: store.clone(from_snapshot_src, f"d{i}"), lambda i: store.delete(store.tree(f"d{i}"))
    )
    for tree in (from_snapshot_src, source):
        store.delete(tree)
    return {
        "method": store.method,
        "bytes": size,
        "cp_a_s": round(cp, 4),
        "cp_a_reflink_never_s": round(full, 4),
        "clone_s": round(clone, 4),
        "snapshot_s": round(snapshot, 4),
        "clone_from_snapshot_s": round(from_snapshot, 4),
        "clone_ratio": round(clone / cp, 4),
        "snapshot_ratio": round(snapshot / cp, 4),
        "clone_ratio_to_full_copy": round(clone / full, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--file-kb", type=int, default=2)
    parser.add_argument("--large", type=int, default=3)
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the loop images and ext4 trees go")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root: loop volumes and overlay mounts")
    megabytes = (args.files * args.file_kb * 1024 + args.large * (args.large_mb << 20)) >> 20
    size = f"{max(2, megabytes * 5 // 1024 + 1)}G"
    print(f"tree: {args.files} files of {args.file_kb} KB + {args.large} x {args.large_mb} MB (~{megabytes} MB)")
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="clone-files-") as tmp:
        base = Path(tmp)
        volumes: list[tuple[str, str | None, list[str] | None]] = [
            ("btrfs", None, ["mkfs.btrfs", "-q"]),
            ("xfs", None, ["mkfs.xfs", "-q", "-m", "reflink=1"]),
            ("host", None, None),  # overlayfs where it works
            ("host", "copy", None),
        ]
        for name, method, mkfs in volumes:
            print(f"{name} ({method or 'chosen'}):", flush=True)
            where = base / f"{name}-{method or 'auto'}"
            where.mkdir()
            with _loop_volume(where, mkfs, size) if mkfs else _host(where) as root:
                if root is None:
                    continue
                try:
                    result = _measure(root, method, args)
                except CodeForgeError as exc:
                    print(f"  failed: {exc.message}")
                    continue
                result["volume"] = name
                results.append(result)
                print(
                    f"  {result['method']}: clone {result['clone_s']:.3f} s, snapshot {result['snapshot_s']:.3f} s, "
                    f"clone of a snapshot {result['clone_from_snapshot_s']:.3f} s; cp -a {result['cp_a_s']:.3f} s "
                    f"(--reflink=never {result['cp_a_reflink_never_s']:.3f} s); clone/cp = {result['clone_ratio']:.4f}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


@contextmanager
def _host(where: Path) -> Iterator[Path]:
    try:
        yield where
    finally:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            if line.split()[4].startswith(str(where)):
                with suppress(Exception):
                    subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())
