"""How the Docker runtime makes a workspace's container: its limits checked against the engine's
host, its ports published on 127.0.0.1, its service names as aliases on the workspace's network,
and what a start needs to make it again with other ports (the engine fixes ports and aliases
when a container is made)."""

from __future__ import annotations

from typing import Any

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.workspaces.records import PortMap, WorkspaceSpec

__all__ = ["ALIASES_LABEL", "PORTS_LABEL", "check_limits", "make_container", "ports_label", "remake_args"]

PORTS_LABEL = "dev.codeforge.ports"  # "inside:host,…" the container was made with
ALIASES_LABEL = "dev.codeforge.aliases"  # its service names, "a,b"
# PID 1: a shell that exits on SIGTERM (a bare `sleep` as PID 1 ignores it, so every stop would
# wait out the grace period) and reaps orphans. Not the engine's --init: its docker-init is
# mounted at /sbin, which in the base image is a link into the host's read-only /usr.
_INIT = 'trap "exit 0" TERM INT; sleep infinity & wait'
_MIN_MEMORY_MB = 6  # the engine refuses less


def check_limits(info: dict[str, Any], spec: WorkspaceSpec) -> None:
    """BadInput naming each limit the engine's host cannot give, with its figure."""
    limits, problems = spec.limits, []
    cpus, total_mb = int(info["NCPU"]), int(info["MemTotal"]) // 2**20
    if limits.cpus is not None and not 0 < limits.cpus <= cpus:
        problems.append(
            FieldProblem("limits.cpus", f"{limits.cpus} CPUs asked; the engine's host has {cpus}",
                         f"ask for more than 0 and at most {cpus}")
        )  # fmt: skip
    if limits.memory_mb is not None and not _MIN_MEMORY_MB <= limits.memory_mb <= total_mb:
        problems.append(
            FieldProblem("limits.memory_mb", f"{limits.memory_mb} MB asked; the engine's host has {total_mb} MB",
                         f"ask for {_MIN_MEMORY_MB} to {total_mb} MB")
        )  # fmt: skip
    if problems:
        raise BadInput("the workspace's limits do not fit this host", errors=problems)


def ports_label(ports: list[PortMap]) -> str:
    return ",".join(f"{p.inside}:{p.host}" for p in sorted(ports, key=lambda p: (p.inside, p.host)))


def make_container(client: Any, name: str, labels: dict[str, str], image: str, binds: dict[str, dict[str, str]],
                   env: dict[str, str] | list[str], spec: WorkspaceSpec, ports: list[PortMap]) -> Any:  # fmt: skip
    """A container (made, not started) on the network called `name`, which must exist."""
    api = client.api
    aliases = sorted(s.name for s in spec.services)
    memory = f"{spec.limits.memory_mb}m" if spec.limits.memory_mb is not None else None
    host_config = api.create_host_config(
        binds=binds,
        port_bindings={f"{p.inside}/tcp": ("127.0.0.1", p.host) for p in ports},
        nano_cpus=int(spec.limits.cpus * 1e9) if spec.limits.cpus is not None else None,
        mem_limit=memory,
        memswap_limit=memory,  # no swap beyond the limit: the memory limit is enforced
        network_mode=name,
    )
    networking = api.create_networking_config({name: api.create_endpoint_config(aliases=aliases or None)})
    created = api.create_container(
        image,
        command=["sh", "-c", _INIT],
        name=name,
        hostname="workspace",
        labels={**labels, PORTS_LABEL: ports_label(ports), ALIASES_LABEL: ",".join(aliases)},
        environment=env,
        working_dir="/workspace",
        host_config=host_config,
        networking_config=networking,
        ports=[(p.inside, "tcp") for p in ports],
        detach=True,
    )
    return client.containers.get(created["Id"])


def remake_args(old: Any) -> tuple[str, dict[str, dict[str, str]], list[str]]:
    """The image, mounts and environment of a container, to make it again."""
    attrs = old.attrs
    binds = {}
    for bind in attrs["HostConfig"].get("Binds") or []:
        host, inside, *mode = bind.split(":")
        binds[host] = {"bind": inside, "mode": mode[0] if mode else "rw"}
    return attrs["Config"]["Image"], binds, list(attrs["Config"].get("Env") or [])
