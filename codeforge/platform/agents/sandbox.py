"""The sandbox an agent works in: a private copy of the workspace, commands run in it under
bubblewrap (or in a Docker container), and the change set the copy holds against its snapshot.

The agent never writes the user's files: tools write the copy, and the platform applies the
hunks a person accepts. Commands see the copy at the workspace's own absolute path (tracebacks
and test ids read as they would on the user's machine), run as an unprivileged user with a
cleared environment, without network unless the project allows it, and see nothing else of
the host: not the platform's data folder, not its secrets, not the user's home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from codeforge.catalog.errors import BadInput, ExternalFailure
from codeforge.changes import FileChange, diff_texts

__all__ = [
    "DEFAULT_IMAGE",
    "MAX_OUTPUT",
    "CommandCancelled",
    "CommandResult",
    "OutsideWorkspace",
    "Sandbox",
    "SandboxUnavailable",
    "bwrap_problem",
]

MAX_OUTPUT = 64 * 1024  # bytes of a command's output kept (head and tail)
MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024  # a larger file is data, not code: copied, never diffed
DEFAULT_IMAGE = os.environ.get("CODEFORGE_AGENTS_SANDBOX_IMAGE", "python:3.11-slim")
SANDBOX_UID = 1000
# What the copy's own .gitignore files may not say, and what tests and tools leave behind.
JUNK = pathspec.GitIgnoreSpec.from_lines(
    [".git/", "__pycache__/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "*.pyc", "*.pyo", ".coverage"]
)
# The parts of /etc programs need (the dynamic loader, TLS roots, name lookup, time zones,
# Debian's alternatives) and nothing more: /etc/shadow and the host's own settings stay out.
ETC = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)


class SandboxUnavailable(ExternalFailure):
    """No runtime that isolates commands: agents' commands are never run unsandboxed."""


class OutsideWorkspace(BadInput):
    """A path that leaves the workspace (absolute elsewhere, `..`, or through a symlink)."""


class CommandCancelled(Exception):
    """The run was cancelled while a command ran; the command and its children were killed."""


@dataclass
class CommandResult:
    exit_code: int  # 124 when timed out (as `timeout` says it)
    output: str  # stdout and stderr interleaved, capped: head and tail kept, the cut said
    timed_out: bool


def _environment(venv: Path | None = None) -> dict[str, str]:
    path = [str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
    if venv is not None:
        path.insert(0, str(venv / "bin"))
    return {
        "PATH": ":".join(dict.fromkeys(path)),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


# ---- what is copied ---------------------------------------------------------------------


class _Ignore:
    """git's ignore rules: every .gitignore on the way down, each relative to its folder."""

    def __init__(self, root: Path, exclude: Sequence[str] = ()) -> None:
        self.root = root
        self.exclude = list(exclude)  # .git/info/exclude, which the copy has no .git for
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, rel_dir: str) -> pathspec.GitIgnoreSpec | None:
        if rel_dir not in self._specs:
            file = self.root / rel_dir / ".gitignore"
            try:
                lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            if rel_dir == "":
                lines = self.exclude + lines
            self._specs[rel_dir] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[rel_dir]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        probe = rel + "/" if is_dir else rel
        if JUNK.match_file(probe):
            return True
        parts = rel.split("/")
        # The deepest .gitignore that says something decides (a nested "!x" re-includes).
        verdict = False
        for depth in range(len(parts)):
            spec = self._spec("/".join(parts[:depth]))
            if spec is None:
                continue
            sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
            result = spec.check_file(sub)
            if result.include is not None:
                verdict = bool(result.include)
        return verdict


def _walk(root: Path, ignore: _Ignore) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of every file and symlink git would not ignore. Ignored folders
    are not entered (a node_modules of 100,000 files costs nothing)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_dir = Path(folder).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for d in sorted(dirs):
            full = Path(folder) / d
            if full.is_symlink():
                files.append(d)  # a link to a folder is copied as a link, never followed
            elif not ignore.ignored(rel_dir + d, True):
                keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            if not ignore.ignored(rel_dir + f, False):
                yield rel_dir + f, Path(folder) / f


def _text(data: bytes) -> str | None:
    if b"\0" in data or len(data) > MAX_SNAPSHOT_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# ---- the runtimes -----------------------------------------------------------------------


class _Output:
    """A command's output within MAX_OUTPUT bytes: the first half and the last half kept."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if cut <= 0:
            return head + tail
        return f"{head}\n[… {cut} bytes of output cut …]\n{tail}"


_bwrap_checked: dict[str, str] = {}


def bwrap_problem() -> str:
    """Why bubblewrap cannot sandbox here ("" when it can): not installed, or user namespaces
    refused. Tried once per process."""
    if "problem" in _bwrap_checked:
        return _bwrap_checked["problem"]
    exe = shutil.which("bwrap")
    problem = ""
    if exe is None:
        problem = "bubblewrap (bwrap) is not installed"
    else:
        try:
            probe = subprocess.run(
                [exe, "--unshare-all", "--unshare-user", "--die-with-parent", *_system_binds(), "--", "/bin/true"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if probe.returncode != 0:
                said = probe.stderr.decode("utf-8", "replace").strip()
                problem = f"bwrap cannot create a sandbox here: {said or f'exit {probe.returncode}'}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"bwrap cannot run: {exc}"
    _bwrap_checked["problem"] = problem
    return problem


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _pump(stream: Any, output: _Output) -> None:
    while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        output.feed(chunk)


# ---- the sandbox ------------------------------------------------------------------------


class Sandbox:
    """A copy of a workspace in `scratch/work` and the means to run commands in it."""

    def __init__(self, workspace: Path, scratch: Path, *, network: bool, runtime: str, image: str) -> None:
        self.workspace = workspace
        self.scratch = scratch
        self.root = scratch / "work"
        self.network = network
        self.runtime = runtime  # "bwrap" | "docker", what "auto" chose
        self.image = image
        self._snapshot: dict[str, str] = {}
        self._exclude: list[str] = []
        self.docker: Any = None  # the Docker client, for runtime "docker"

    @classmethod
    def create(
        cls,
        workspace: Path,
        scratch: Path,
        *,
        network: bool = False,
        runtime: str = "auto",
        image: str = DEFAULT_IMAGE,
        hide: Sequence[Path] = (),
    ) -> Sandbox:
        """Copies the workspace (what git would not ignore, .git left out, symlinks that leave
        it left out) to scratch/work. `hide`: folders never copied even when inside the
        workspace (the platform's data folder). `image`: the local Docker image for
        runtime="docker"."""
        workspace = Path(workspace).resolve()
        if not workspace.is_dir():
            raise BadInput(f"the workspace {workspace} is not a folder", fix="give the project's folder")
        scratch = Path(scratch)
        if (scratch / "work").exists() or (scratch.exists() and not scratch.is_dir()):
            # Never clean up (close) a folder this sandbox did not make.
            raise BadInput(f"the scratch folder {scratch} is already in use", fix="give each sandbox a new folder")
        chosen, docker_client = _choose_runtime(runtime, image)
        sandbox = cls(workspace, scratch, network=network, runtime=chosen, image=image)
        sandbox.docker = docker_client
        try:
            # Only what lies inside the workspace needs hiding (nothing else is bound); a data
            # folder holding the workspace must not hide the workspace itself.
            # The scratch folder too, should it be inside (the copy must not copy itself).
            hidden = [h for h in (Path(p).resolve() for p in [*hide, scratch]) if not _inside(workspace, h)]
            sandbox._copy(hidden)
            sandbox._write_identity()
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _copy(self, hide: list[Path]) -> None:
        self.root.mkdir(parents=True, exist_ok=False)
        info = self.workspace / ".git" / "info" / "exclude"
        with contextlib.suppress(OSError):
            self._exclude = info.read_text(encoding="utf-8", errors="replace").splitlines()
        ignore = _Ignore(self.workspace, self._exclude)
        for rel, source in _walk(self.workspace, ignore):
            if any(_inside(source, h) for h in hide):
                continue
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                real = source.resolve()
                if not _inside(real, self.workspace) or any(_inside(real, h) for h in hide) or not real.exists():
                    continue  # would lead out of the workspace (or nowhere)
                # Relative, so that it points into the copy and not back at the user's files.
                target.symlink_to(os.path.relpath(real, source.parent.resolve()))
                continue
            if not source.is_file():
                continue  # sockets, fifos
            data = source.read_bytes()
            target.write_bytes(data)
            shutil.copymode(source, target)
            text = _text(data)
            if text is not None:
                self._snapshot[rel] = text

    def _write_identity(self) -> None:
        etc = self.scratch / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "passwd").write_text(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:agent sandbox:/tmp:/bin/sh\n")
        (etc / "group").write_text(f"sandbox:x:{SANDBOX_UID}:\n")

    # ---- paths --------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The file `path` names inside the copy. Relative to the workspace; an absolute path
        under the workspace's own path (as commands and tracebacks show it) means the same
        file. Anything else, `..` out of it or a symlink out of it is OutsideWorkspace."""
        fix = "use a path relative to the workspace root, inside it"
        if not isinstance(path, str) or "\0" in path:
            raise OutsideWorkspace(f"{path!r} is not a path", fix=fix)
        raw = path.strip()
        if os.path.isabs(raw):
            absolute = Path(os.path.normpath(raw))
            if not _inside(absolute, self.workspace):
                raise OutsideWorkspace(f"{path} is outside the workspace", fix=fix)
            raw = absolute.relative_to(self.workspace).as_posix()
        rel = os.path.normpath(raw or ".")
        if rel == ".." or rel.startswith("../"):
            raise OutsideWorkspace(f"{path} leaves the workspace", fix=fix)
        root = self.root.resolve()
        resolved = (root / rel).resolve()
        if not _inside(resolved, root):
            raise OutsideWorkspace(f"{path} leads out of the workspace through a symlink", fix=fix)
        return resolved

    def files(self, under: str = "") -> list[str]:
        """Workspace-relative paths of the copy's files (not folders, not symlinks) that git
        would not ignore, junk left out, in path order; `under`: a folder (or file) to list."""
        root = self.root.resolve()
        start = self.resolve(under) if under else root
        prefix = "" if start == root else self.relative(start) + "/"
        if start.is_file():
            return [prefix[:-1]]
        out = []
        for rel, path in _walk(root, _Ignore(root, self._exclude)):
            if rel.startswith(prefix) and not path.is_symlink() and path.is_file():
                out.append(rel)
        return sorted(out)

    @property
    def project_venv(self) -> Path | None:
        """The workspace's own virtual environment (.venv or venv with a pyvenv.cfg), if any."""
        for name in (".venv", "venv"):
            folder = self.workspace / name
            if (folder / "pyvenv.cfg").is_file() and not folder.is_symlink():
                return folder
        return None

    def relative(self, path: Path) -> str:
        """A path inside the copy as the workspace-relative path the agent uses."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    # ---- commands -----------------------------------------------------------------------

    def run(
        self,
        command: str,
        *,
        timeout: float = 120.0,
        cancelled: Callable[[], bool] = lambda: False,
        max_output: int = MAX_OUTPUT,
    ) -> CommandResult:
        """Runs `command` with /bin/sh in the workspace folder. On timeout or cancel the
        command's whole process tree is killed; cancel then raises CommandCancelled."""
        output = _Output(max_output)
        if self.runtime == "docker":
            from codeforge.platform.agents.sandbox_docker import run_in_container

            exit_code, killed = run_in_container(
                self.docker,
                self.image,
                self.root,
                self.workspace,
                command,
                network=self.network,
                uid=SANDBOX_UID,
                timeout=timeout,
                cancelled=cancelled,
                feed=output.feed,
            )
            if killed == "cancelled":
                raise CommandCancelled(f"cancelled while running: {command[:200]}")
            if killed:
                return CommandResult(124, f"{output.text()}\n[killed after {timeout:g} s: the command timed out]", True)
            return CommandResult(exit_code, output.text(), False)
        process = subprocess.Popen(
            self._bwrap_args(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole
            env=_environment(self.project_venv),
        )
        reader = threading.Thread(target=_pump, args=(process.stdout, output), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        timed_out = was_cancelled = False
        while True:
            try:
                process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancelled():
                was_cancelled = True
            elif time.monotonic() >= deadline:
                timed_out = True
            if timed_out or was_cancelled:
                # bwrap dies; its child has --die-with-parent and is the PID namespace's init,
                # so every process of the command goes with it.
                _kill_group(process)
                break
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        if was_cancelled:
            raise CommandCancelled(f"cancelled while running: {command[:200]}")
        text = output.text()
        if timed_out:
            return CommandResult(124, f"{text}\n[killed after {timeout:g} s: the command timed out]", True)
        return CommandResult(process.returncode, text, False)

    def _bwrap_args(self, command: str) -> list[str]:
        exe = shutil.which("bwrap") or "bwrap"
        args = [exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
        if self.network:
            args.append("--share-net")
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
        args += _system_binds()
        args += ["--ro-bind", str(self.scratch / "etc" / "passwd"), "/etc/passwd"]
        args += ["--ro-bind", str(self.scratch / "etc" / "group"), "/etc/group"]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        args += ["--bind", str(self.root), str(self.workspace)]
        # The interpreter the platform runs (so `python -m pytest` works inside), read-only,
        # after the copy: a virtual environment inside the workspace is not part of the copy.
        prefixes = [sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)]
        if self.project_venv is not None:
            # The project's own virtual environment (ignored, so not copied) comes first on
            # PATH, read-only: the tests run with the project's dependencies.
            prefixes += [str(self.project_venv), *_venv_bases(self.project_venv)]
        for prefix in dict.fromkeys(prefixes):
            if not prefix.startswith("/usr/") and Path(prefix).is_dir():
                args += ["--ro-bind", prefix, prefix]
        args += ["--chdir", str(self.workspace), "--clearenv"]
        for key, value in _environment(self.project_venv).items():
            args += ["--setenv", key, value]
        return [*args, "--", "/bin/sh", "-c", command]

    # ---- the change set -----------------------------------------------------------------

    def changes(self) -> list[FileChange]:
        """The copy against its snapshot, by path: text files changed, added or deleted.
        Junk (__pycache__, .pytest_cache, *.pyc) and what .gitignore ignores are left out, and
        so are binary files, which have no hunks."""
        current: dict[str, str] = {}
        root = self.root.resolve()
        for rel, path in _walk(root, _Ignore(root, self._exclude)):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                text = _text(path.read_bytes())
            except OSError:
                continue
            if text is not None:
                current[rel] = text
        out: list[FileChange] = []
        for rel in sorted(set(current) | set(self._snapshot)):
            change = diff_texts(rel, self._snapshot.get(rel), current.get(rel))
            if change is not None:
                out.append(change)
        return out

    def base_text(self, path: str) -> str | None:
        """A file's text when the copy was made (None: it was not there, or not text)."""
        return self._snapshot.get(path)

    def close(self) -> None:
        """Removes the scratch folder, whatever commands left in it."""

        def unlock(func: Any, path: str, _exc: Any) -> None:
            with contextlib.suppress(OSError):
                os.chmod(os.path.dirname(path), stat.S_IRWXU)
                os.chmod(path, stat.S_IRWXU)
            with contextlib.suppress(OSError):
                func(path)

        if self.scratch.exists():
            shutil.rmtree(self.scratch, onerror=unlock)


def _venv_bases(venv: Path) -> list[str]:
    """The installation a virtual environment runs on (pyvenv.cfg's `home`, its interpreter's
    real location), which must be visible for the environment's python to start."""
    out: list[str] = []
    with contextlib.suppress(OSError):
        for line in (venv / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                out.append(str(Path(value.strip()).parent))
    with contextlib.suppress(OSError):
        out.append(str((venv / "bin" / "python").resolve().parent.parent))
    return [o for o in out if o not in ("/", "")]


def _choose_runtime(runtime: str, image: str) -> tuple[str, Any]:
    fix = "install bubblewrap (`apt-get install bubblewrap`), or start Docker with the sandbox image available"
    if runtime not in ("auto", "bwrap", "docker"):
        raise BadInput(f"unknown sandbox runtime {runtime!r}", fix='use "auto", "bwrap" or "docker"')
    problems: list[str] = []
    if runtime in ("auto", "bwrap"):
        problem = bwrap_problem()
        if not problem:
            return "bwrap", None
        problems.append(problem)
    if runtime in ("auto", "docker"):
        client, problem = _docker_client(image)
        if client is not None:
            return "docker", client
        problems.append(problem)
    raise SandboxUnavailable(
        "agents' commands need a sandbox and none is available: " + "; ".join(problems),
        fix=fix if runtime != "docker" else f"start the Docker engine and `docker pull {image}`",
    )


def _docker_client(image: str) -> tuple[Any, str]:
    from codeforge.platform.agents.sandbox_docker import client_for

    return client_for(image)
