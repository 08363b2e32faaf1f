"""How a local workspace's process is started (docs/workspaces.md, "Runtimes"): under
bubblewrap where `bwrap` works here (the tree bound read-write at its own path, the rest of /
read-only, a private /tmp, the host's network), in its own session and process group, entered
into the workspace's cgroups before it executes, with a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import BadInput, FieldProblem

__all__ = ["check_command", "probe_bwrap", "sandbox_env", "spawn"]

_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


def probe_bwrap(bwrap: str | None = None) -> tuple[str | None, str]:
    """(path to bwrap, "") when it runs the isolation we use, else (None, why)."""
    path = bwrap or shutil.which("bwrap")
    if not path:
        return None, "bwrap not found on PATH (apt-get install bubblewrap)"
    try:
        done = subprocess.run(
            [path, *_bwrap_args(Path("/"), Path("/")), "true"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} could not run: {exc}"
    if done.returncode != 0:
        return None, f"{path} refused: {(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}"
    return path, ""


def _own_install() -> list[Path]:
    """This interpreter's environment and the folder holding the codeforge package: the bridge,
    one of a workspace's services, runs them, and they may lie under /tmp (a CI checkout)."""
    import codeforge

    return [Path(sys.prefix), Path(codeforge.__file__).resolve().parents[1]]


def _bwrap_args(tree: Path, cwd: Path, hide: tuple[Path, ...] = ()) -> list[str]:
    # In order: / read-only, a private /tmp, this CodeForge's own install bound back (read-only)
    # in case it lay under /tmp, then `hide` (the platform's data dir: its secret key, its
    # database, every workspace's state) covered by an empty tmpfs — after the install, so a
    # data dir inside a checkout stays covered — and last the tree, bound read-write.
    kept = [arg for path in _own_install() for arg in ("--ro-bind", str(path), str(path))]
    covered = [arg for path in hide for arg in ("--tmpfs", str(path))]
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *kept, *covered,
            "--bind", str(tree), str(tree), "--chdir", str(cwd)]  # fmt: skip


def check_command(argv: list[str], env: dict[str, str], cwd: Path, field: str) -> None:
    if not argv:
        raise BadInput(
            "empty command", errors=[FieldProblem(field, "no program given", "give the program and its arguments")]
        )
    prog = argv[0]
    found = (cwd / prog).is_file() if "/" in prog else shutil.which(prog, path=env.get("PATH"))
    if not found:
        raise BadInput(
            f"command not found: {prog!r}",
            errors=[
                FieldProblem(
                    field,
                    f"{prog!r} is not a program on the workspace's PATH nor in its tree",
                    "install it or fix the command",
                )
            ],
        )


def spawn(
    bwrap: str | None, argv: list[str], env: dict[str, str], tree: Path, cwd: Path, cgroups: list[Path], *,
    stdout: Any, hide: tuple[Path, ...] = (),
) -> subprocess.Popen[bytes]:  # fmt: skip
    full = [bwrap, *_bwrap_args(tree, cwd, hide), "--", *argv] if bwrap else argv
    procs_files = [str(p / "cgroup.procs") for p in cgroups]

    def enter_cgroups() -> None:
        # In the child before exec, so nothing it forks escapes the limits.
        for procs in procs_files:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

    return subprocess.Popen(
        full, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=enter_cgroups if procs_files else None,
    )  # fmt: skip


def sandbox_env(values: dict[str, str], tree: Path) -> dict[str, str]:
    base = {k: os.environ[k] for k in _BASE_ENV if k in os.environ}
    return {**base, "HOME": str(tree), **values}
