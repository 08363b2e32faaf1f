"""Images for the Docker runtime, built here: no registry is reachable (docs/workspaces.md,
"Runtimes"). The base image is a tiny root filesystem made in Python and `docker import`ed: the
directories a Linux userland expects, /etc's few files, the host's /bin, /lib, /lib64, /sbin
layout (symlinks into /usr on a merged-/usr host) and, where the host has a static busybox,
busybox in /usr/bin so a Dockerfile's RUN lines have a shell at build time. At run time the
host's /usr (and any of /bin, /lib, /lib64, /sbin that is a real directory) is bind-mounted
read-only over it, so the host's python3 and tools run inside. Import takes well under a second
and the image is cached by the hash of its tar's content. A devcontainer's Dockerfile is built
`FROM` it (`ARG BASE_IMAGE` / `FROM ${BASE_IMAGE}`, or `FROM codeforge/workspace-base`)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem, NotFound

__all__ = ["BASE_REPOSITORY", "build_dockerfile", "codeforge_mounts", "ensure_base_image", "host_mounts"]

BASE_REPOSITORY = "codeforge/workspace-base"
LABEL_BASE = "dev.codeforge.base"  # the content hash of the base image's root filesystem
_TOP = ("bin", "sbin", "lib", "lib64")

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_STEP = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$", re.M)


def host_mounts() -> dict[str, dict[str, str]]:
    """The host paths bind-mounted read-only into every workspace made from the base."""
    mounts = {"/usr": {"bind": "/usr", "mode": "ro"}}
    for top in _TOP:
        path = Path("/") / top
        if path.is_dir() and not path.is_symlink():
            mounts[str(path)] = {"bind": str(path), "mode": "ro"}
    return mounts


def codeforge_mounts() -> dict[str, dict[str, str]]:
    """The host's CodeForge (its checkout or site-packages, its virtual environment and the
    Python that environment runs on), read-only at the same paths, so `sys.executable -m
    codeforge bridge` runs inside a workspace made from the base (docs/workspaces.md)."""
    import codeforge

    wanted = {
        Path(codeforge.__file__).resolve().parent.parent,
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
    }
    kept = [p for p in wanted if p != Path("/") and not any(o != p and p.is_relative_to(o) for o in wanted)]
    return {str(p): {"bind": str(p), "mode": "ro"} for p in sorted(kept) if not p.is_relative_to("/usr")}


def _add(tar: tarfile.TarFile, name: str, *, kind: bytes = tarfile.DIRTYPE, mode: int = 0o755,
         data: bytes = b"", target: str = "") -> None:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0  # mtime 0: the same content hashes the same
    if kind == tarfile.SYMTYPE:
        info.linkname = target
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


@functools.cache  # the host's /etc/alternatives and busybox do not change under a running platform
def base_rootfs() -> bytes:
    """The base image's root filesystem as an uncompressed tar (deterministic bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("dev", "proc", "sys", "etc", "root", "home", "run", "var", "var/log", "var/log/codeforge",
                  "var/tmp", "opt", "mnt", "workspace", "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64"):  # fmt: skip
            _add(tar, d, mode=0o700 if d == "root" else 0o755)
        _add(tar, "tmp", mode=0o1777)
        for top in _TOP:
            path = Path("/") / top
            if path.is_symlink():  # merged /usr: keep the host's layout so the bound /usr serves it
                _add(tar, top, kind=tarfile.SYMTYPE, target=os.readlink(path))
            else:
                _add(tar, top)
        _add(tar, "etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=_PASSWD.encode())
        _add(tar, "etc/group", kind=tarfile.REGTYPE, mode=0o644, data=_GROUP.encode())
        nsswitch = Path("/etc/nsswitch.conf")
        data = nsswitch.read_bytes() if nsswitch.is_file() else b"hosts: files dns\n"
        _add(tar, "etc/nsswitch.conf", kind=tarfile.REGTYPE, mode=0o644, data=data)
        # /usr/bin/awk and friends point into /etc/alternatives on Debian: keep those links.
        alternatives = Path("/etc/alternatives")
        if alternatives.is_dir():
            _add(tar, "etc/alternatives")
            for link in sorted(alternatives.iterdir()):
                if link.is_symlink():
                    _add(tar, f"etc/alternatives/{link.name}", kind=tarfile.SYMTYPE, target=os.readlink(link))
        # A shell for a Dockerfile's RUN lines (the bound /usr hides it at run time).
        busybox = shutil.which("busybox")
        if busybox and _is_static(Path(busybox)):
            _add(tar, "usr/bin/busybox", kind=tarfile.REGTYPE, data=Path(busybox).read_bytes())
            for applet in ("sh", "echo", "cat", "ls", "mkdir", "rm", "cp", "mv", "touch", "chmod", "ln",
                           "env", "test", "true", "false", "sleep", "grep", "sed", "id"):  # fmt: skip
                _add(tar, f"usr/bin/{applet}", kind=tarfile.SYMTYPE, target="busybox")
    return buf.getvalue()


def _is_static(path: Path) -> bool:
    """An ELF without a PT_INTERP program header needs no loader: it runs in an empty image."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
                return False
            phoff = int.from_bytes(head[32:40], "little")
            phentsize = int.from_bytes(head[54:56], "little")
            phnum = int.from_bytes(head[56:58], "little")
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(int.from_bytes(table[i * phentsize : i * phentsize + 4], "little") != 3 for i in range(phnum))


def ensure_base_image(client: Any, instance: str) -> str:
    """The base image's reference, imported once per content hash and reused after."""
    import docker.errors

    data = base_rootfs()
    digest = hashlib.sha256(data).hexdigest()[:16]
    ref = f"{BASE_REPOSITORY}:{digest}"
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        changes = [
            f'LABEL {LABEL_BASE}="{digest}" dev.codeforge.instance="{instance}"',
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "WORKDIR /workspace",
        ]
        client.api.import_image_from_data(data, repository=BASE_REPOSITORY, tag=digest, changes=changes)
        client.images.get(ref)  # the import answered: fail here, not at create, if it did not land
    # `FROM codeforge/workspace-base` in a Dockerfile means this content's image.
    client.images.get(ref).tag(BASE_REPOSITORY, "latest")
    return ref


def build_dockerfile(client: Any, base: str, tree: Path, dockerfile: str, context: str,
                     build_args: dict[str, str], labels: dict[str, str], tag: str) -> str:  # fmt: skip
    """Build a devcontainer's Dockerfile with BASE_IMAGE=the base; its output's last lines in
    the error when it fails."""
    import docker.errors

    ctx = (tree / context).resolve()
    path = (tree / dockerfile).resolve()
    outside = [
        FieldProblem(field, f"{value!r} leads outside the workspace tree", "give a path inside the tree")
        for field, value, resolved in (("build.dockerfile", dockerfile, path), ("build.context", context, ctx))
        if not resolved.is_relative_to(tree.resolve())
    ]
    if outside:
        raise BadInput("the build's paths must stay in the workspace tree", errors=outside)
    if not path.is_file():
        raise NotFound(f"the Dockerfile {dockerfile} is not in the workspace tree", fix="check build.dockerfile")
    if not ctx.is_dir():
        raise NotFound(f"the build context {context} is not in the workspace tree", fix="check build.context")
    lines: list[str] = []
    steps: list[str] = []  # " ---> <id>": each step's image, removed if the build fails
    try:
        for chunk in client.api.build(
            path=str(ctx), dockerfile=str(path), tag=tag, rm=True, forcerm=True, pull=False, decode=True,
            buildargs={"BASE_IMAGE": base, **build_args}, labels=labels,
        ):  # fmt: skip
            if "stream" in chunk:
                lines += [ln for ln in str(chunk["stream"]).splitlines() if ln.strip()]
                steps += [m.group(1) for m in _STEP.finditer(str(chunk["stream"]))]
            if "error" in chunk:
                lines.append(str(chunk["error"]).strip())
                raise docker.errors.BuildError(str(chunk["error"]), iter(()))
    except docker.errors.BuildError:
        _remove_steps(client, steps, base)
        last = "\n".join(lines[-12:])
        raise ExternalFailure(
            f"docker build of {dockerfile} failed; its output ends:\n{last}",
            fix=f"fix the Dockerfile (build it FROM ${{BASE_IMAGE}} or {BASE_REPOSITORY}: no registry is reachable)",
        ) from None
    except docker.errors.APIError as exc:
        _remove_steps(client, steps, base)
        raise ExternalFailure(f"docker build of {dockerfile} failed: {exc.explanation or exc}",
                              fix="fix the Dockerfile") from None  # fmt: skip
    return tag


def _remove_steps(client: Any, steps: list[str], base: str) -> None:
    """A failed build leaves the images of the steps that worked, unlabelled: remove them
    (one another build still uses stays: the engine refuses, and that is fine)."""
    import docker.errors

    base_id = client.images.get(base).id
    for ref in reversed(steps):
        if not base_id.startswith(f"sha256:{ref}"):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(ref)
