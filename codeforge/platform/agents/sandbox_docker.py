"""The sandbox's Docker runtime: commands in a container of a local image, the copy of the
workspace bind-mounted at the workspace's own path, as an unprivileged user with every
capability dropped, no network unless the project allows it (`sandbox.py` is the rest)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["client_for", "run_in_container"]


def _drain(chunks: Any, feed: Callable[[bytes], None]) -> None:
    for chunk in chunks:
        feed(chunk)


def run_in_container(
    client: Any,
    image: str,
    copy: Path,
    workspace: Path,
    command: str,
    *,
    network: bool,
    uid: int,
    timeout: float,
    cancelled: Callable[[], bool],
    feed: Callable[[bytes], None],
) -> tuple[int, str]:
    """`command` in a container of `image` as `uid`, `copy` bind-mounted at `workspace`, its
    output fed as it comes: (exit code, "") or, killed, (124, "timeout" or "cancelled")."""
    import requests

    if os.getuid() == 0:
        # The container runs as uid: the copy, with what the tools wrote since the
        # last command (as root), must be its to write.
        for folder, dirs, files in os.walk(copy):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                if os.lstat(name).st_uid != uid:
                    os.lchown(name, uid, uid)
    user = f"{uid}:{uid}" if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    container = client.containers.run(
        image,
        ["/bin/sh", "-c", command],
        detach=True,
        network_mode="bridge" if network else "none",
        volumes={str(copy): {"bind": str(workspace), "mode": "rw"}},
        working_dir=str(workspace),
        environment={"HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
        user=user,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs={"/tmp": "rw,size=512m"},
        pids_limit=1024,
        init=True,
    )
    try:
        logs = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        reader = threading.Thread(target=_drain, args=(logs, feed), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = container.wait(timeout=0.25)
                exit_code = int(status.get("StatusCode", -1))
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass
            if cancelled() or time.monotonic() >= deadline:
                with contextlib.suppress(Exception):
                    container.kill()
                reader.join(timeout=5)
                return 124, "cancelled" if cancelled() else "timeout"
        reader.join(timeout=10)
        return exit_code, ""
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)


def client_for(image: str) -> tuple[Any, str]:
    """A client of a Docker engine that answers and has `image`, else None and why."""
    try:
        import docker
        import docker.errors
    except ImportError:
        return None, "the docker package is not installed"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        return None, f"no Docker engine answers ({type(exc).__name__})"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return None, f"the Docker image {image} is not on this machine"
    except Exception as exc:
        return None, f"Docker failed looking up {image}: {exc}"
    return client, ""
