"""Small pieces the Docker runtime uses against the engine: connecting (with the reason when it
cannot), exec with a timeout that kills what it started, the ports listened on inside a
container, and reading files out of a container whether it runs or not."""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
from pathlib import Path
from typing import Any

import psutil

from codeforge.platform.workspaces.records import ExecResult
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = ["connect", "exec_with_timeout", "read_files"]

DEFAULT_URL = "unix:///var/run/docker.sock"


def connect(base_url: str) -> tuple[Any | None, str | None]:
    """A client that has answered a ping, or None and why not (with what to do)."""
    import docker

    try:
        client = docker.DockerClient(base_url=base_url, timeout=120)
        client.ping()
        return client, None
    except Exception as exc:  # the SDK raises DockerException, requests' errors or OSError
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return None, f"no Docker engine at {base_url}: start dockerd (or set DOCKER_HOST to a running engine) ({why})"


def require_engine(client: Any | None, why: str | None) -> Any:
    if client is None:
        raise Unavailable(why or "no Docker engine", fix="start dockerd, or use the local runtime")
    return client


def _kill_tree(pid: int, container_id: str) -> bool:
    """Kill an exec'd process and everything under it. The engine's exec inspect gives its pid
    in the host's namespace; it is killed only if that pid here is in the container's cgroup
    (an engine on another host gives pids that mean nothing here). False when it was not."""
    try:
        if container_id not in Path(f"/proc/{pid}/cgroup").read_text():
            return False
    except OSError:
        return False
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        proc.kill()
    return True


def exec_with_timeout(client: Any, container_id: str, argv: list[str], timeout_s: float,
                      env: dict[str, str] | None = None, workdir: str | None = None) -> ExecResult:  # fmt: skip
    api = client.api
    exec_id = api.exec_create(container_id, argv, stdout=True, stderr=True, environment=env, workdir=workdir)["Id"]
    chunks: list[bytes] = []
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for chunk in api.exec_start(exec_id, stream=True):
                chunks.append(chunk)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if reader.is_alive():
        pid = int(api.exec_inspect(exec_id).get("Pid") or 0)
        killed = pid > 0 and _kill_tree(pid, container_id)
        reader.join(10 if killed else 0.1)
        text = b"".join(chunks).decode(errors="replace")
        what = (
            "was killed" if killed else "could not be killed from here (the engine is not on this host): it still runs"
        )
        return ExecResult(124, f"{text}\n[timed out after {timeout_s:g}s: {' '.join(argv)} {what}]")
    if failure:
        raise failure[0]
    code = api.exec_inspect(exec_id).get("ExitCode")
    return ExecResult(int(code if code is not None else -1), b"".join(chunks).decode(errors="replace"))


def read_files(container: Any, path: str) -> dict[str, bytes]:
    """The regular files at `path` in a container (running or not), by base name; {} if none."""
    import docker.errors

    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return {}
    data = b"".join(stream)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                f = tar.extractfile(member)
                if f is not None:
                    files[member.name.rsplit("/", 1)[-1]] = f.read()
    return files
