"""The Docker runtime (docs/workspaces.md, "Runtimes"): one container per workspace, on one
user-defined network per workspace, through the `docker` SDK against the real engine.

One container, not one per service: the workspace's limits (`nano_cpus`, `mem_limit`) are one
cgroup for all its services, as on the local runtime; services also reach each other on
localhost; exec, listening() and a checkpoint see every process at once. Each service is a
process started in it with `docker exec` (output to /var/log/codeforge/<name>.log inside);
the container's network aliases are the service names, so `http://web:8000` works from any
service. Ports are published on 127.0.0.1 at the PortMap's host port; the engine fixes those at
creation, so a start with other ports (or services) recreates the container — the tree at
/workspace is a bind mount and survives; the rest of the container's filesystem is scratch.
What the environment (or a service's command) names on the host's loopback, other than the
workspace's own ports, names the network's gateway instead, where a relay of this runtime
forwards to the host's loopback (docker_relay.py: the platform's PostgreSQL, the platform for
the bridge). A start of services none of which the running container has (the bridge, on
connect) adds them and leaves the others running; a port it was not made with is relayed from
the host's 127.0.0.1 to the container's address rather than published (which would remake it).
Everything made carries LABEL_WORKSPACE and LABEL_INSTANCE, so a new DockerRuntime finds it;
the relays live in this process only, so a new one (a restarted platform) makes them again for
each running container of its instance (`reattach`), and `state` says what the engine holds."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound
from codeforge.platform.workspaces.network import remap_env
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable, wait_ready
from codeforge.platform.workspaces.runtimes.docker_containers import (
    ALIASES_LABEL,
    PORTS_LABEL,
    check_limits,
    make_container,
    ports_label,
    remake_args,
)
from codeforge.platform.workspaces.runtimes.docker_engine import (
    DEFAULT_URL,
    connect,
    exec_with_timeout,
    read_files,
    require_engine,
)
from codeforge.platform.workspaces.runtimes.docker_images import (
    build_dockerfile,
    codeforge_mounts,
    ensure_base_image,
    host_mounts,
)
from codeforge.platform.workspaces.runtimes.docker_relay import Relays, loopback_ports, to_gateway
from codeforge.platform.workspaces.runtimes.proc_net import listening_ports

__all__ = ["DockerRuntime"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a DNS label: it is a network alias
LOG_DIR = "/var/log/codeforge"  # each service's <name>.log, <name>.pid and <name>.relays, inside the container
# What reattach reads in a running container: the gateway ports each service was given (its
# `.relays`), and the command line and environment of each service still running (services
# started before `.relays` existed say theirs there too).
_RELAYS_SCRIPT = (
    f"cd {LOG_DIR} 2>/dev/null || exit 0; cat ./*.relays 2>/dev/null; "
    'for f in ./*.pid; do [ -e "$f" ] || continue; p=$(cat "$f"); '
    'tr "\\0" "\\n" < /proc/$p/cmdline; tr "\\0" "\\n" < /proc/$p/environ; done 2>/dev/null; true'
)
log = logging.getLogger(__name__)


class DockerRuntime:
    name = "docker"

    def __init__(self, instance: str, *, base_url: str | None = None, grace_s: float = 5.0,
                 ready_timeout_s: float = 15.0) -> None:  # fmt: skip
        self.instance = instance
        self.base_url = base_url or DEFAULT_URL
        self.grace_s = grace_s
        self.ready_timeout_s = ready_timeout_s
        self._client: Any | None = None
        self._suffix = hashlib.sha256(instance.encode()).hexdigest()[:8]
        self._relays = Relays()  # host-side relays into the host's loopback (docker_relay.py)

    # -- the contract -------------------------------------------------------------------------

    def available(self) -> str | None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.ping()
                return None
        self._client, why = connect(self.base_url)
        return why

    def create(self, ws_id: str, spec: WorkspaceSpec, tree: Path, env: dict[str, str]) -> RuntimeHandle:
        _check_id(ws_id, "ws_id")
        if not tree.is_dir():
            raise NotFound(f"the workspace tree {tree} does not exist", fix="make it with the FileStore first")
        _check_services(spec)
        client = self._engine()
        check_limits(client.info(), spec)
        labels = self._labels(ws_id)
        made: list[tuple[str, str]] = []
        try:
            image, mounts = self._image(client, ws_id, spec, tree, labels, made)
            net = client.networks.create(self._name(ws_id), driver="bridge", labels=labels)
            made.append(("network", net.id))
            binds = {str(tree.resolve()): {"bind": "/workspace", "mode": "rw"}, **mounts}
            # The services' own URLs (their host ports, not known here) are left for start.
            own = {p for k, v in env.items() if k.startswith("CODEFORGE_SERVICE_") for p in loopback_ports(v)}
            fixed = self._through_gateway(ws_id, _gateway(net), {**spec.env, **env}, own)
            container = make_container(client, self._name(ws_id), labels, image, binds, fixed, spec, [])
            made.append(("container", container.id))
            container.start()
        except Exception:
            self._relays.release(ws_id)
            self._undo(client, made)
            raise
        return RuntimeHandle(
            "docker", ws_id, {"container": container.id, "network": net.id, "image": image, "instance": self.instance}
        )

    def start(self, handle: RuntimeHandle, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap]) -> None:
        _check_services(spec)
        client = self._engine()
        container = self._container(client, handle.ref)
        gateway = self._gateway_of(client, handle.ref)
        held = {int(n) for pair in container.labels.get(PORTS_LABEL, "").split(",") if pair for n in pair.split(":")}
        keep = held | {p.inside for p in ports} | {p.host for p in ports}
        running = set(filter(None, container.labels.get(ALIASES_LABEL, "").split(",")))
        if container.status == "running" and spec.services and not running & {s.name for s in spec.services}:
            return self._add(client, handle, container, spec, env, ports, gateway, keep)
        wanted = ports_label(ports)
        aliases = ",".join(sorted(s.name for s in spec.services))
        current = _env_of(container)
        if (
            container.labels.get(PORTS_LABEL, "") != wanted
            or container.labels.get(ALIASES_LABEL, "") != aliases
            or self._through_gateway(handle.ref, gateway, inside_env(current, ports), keep) != current
        ):
            container = self._recreate(client, handle.ref, container, spec, ports, gateway)
        self._relays.ensure(handle.ref, gateway, _gateway_ports(_env_of(container), gateway))
        if container.status != "running":
            container.start()
            _crash_point("docker.start", "container-started")
        elif any(n.endswith(".pid") for n in read_files(container, LOG_DIR)):
            # Services already run here (a second start, or a restarted platform's): begin
            # afresh rather than start each twice (the second would find its port taken).
            container.restart(timeout=max(1, int(self.grace_s)))
        handle.data["container"] = container.id
        self._services(client, handle, container, spec, env, ports, gateway, keep)

    def _services(self, client: Any, handle: RuntimeHandle, container: Any, spec: WorkspaceSpec, env: dict[str, str],
                  ports: list[PortMap], gateway: str, keep: set[int]) -> None:  # fmt: skip
        """Start each of spec's services in the running container, and wait for each to be ready."""
        inside = {p.service: p.inside for p in ports}
        for svc in spec.services:
            port = svc.port if svc.port is not None else inside.get(svc.name)
            penv = inside_env({**spec.env, **env, **svc.env}, ports)
            penv = self._through_gateway(handle.ref, gateway, penv, keep)
            penv.update({"PORT": str(port)} if port else {})
            argv = [a.replace("$PORT", str(port)) if port else a for a in svc.command]
            argv = list(self._through_gateway(handle.ref, gateway, dict(enumerate(argv)), keep).values())
            log, pid = f"{LOG_DIR}/{svc.name}.log", f"{LOG_DIR}/{svc.name}.pid"
            # The gateway ports it was given (relayed now), kept beside its pid so a restarted
            # platform relays them again (reattach): the exec's environment is in no label.
            relayed = sorted(_gateway_ports({**penv, **dict(enumerate(argv))}, gateway))
            said = " ".join(f"{gateway}:{port}" for port in relayed)
            script = f'mkdir -p {LOG_DIR}; echo $$ > {pid}; echo {said} > {LOG_DIR}/{svc.name}.relays; exec "$@" >> {log} 2>&1'
            workdir = str(Path("/workspace") / svc.cwd)
            exec_id = client.api.exec_create(container.id, ["sh", "-c", script, "sh", *argv],
                                             environment=penv, workdir=workdir)["Id"]  # fmt: skip
            client.api.exec_start(exec_id, detach=True)
            self._wait_ready(client, handle, container, svc.name, exec_id, svc.port)

    def stop(self, handle: RuntimeHandle) -> None:
        import docker.errors

        client = self._engine()
        self._relays.release(handle.ref)
        for container in self._containers(client, handle.ref):
            with contextlib.suppress(docker.errors.NotFound):
                container.stop(timeout=max(1, int(self.grace_s)))

    def delete(self, handle: RuntimeHandle) -> None:
        _check_id(handle.ref, "ref")
        client = self._engine()
        self._relays.release(handle.ref)
        # In the order they were made: _undo removes newest first (containers, then the network).
        made = [("image", i.id) for i in client.images.list(filters={"label": self._filters(handle.ref)})]
        made += [("network", n.id) for n in client.networks.list(filters={"label": self._filters(handle.ref)})]
        made += [("container", c.id) for c in self._containers(client, handle.ref)]
        self._undo(client, made)

    def exec(self, handle: RuntimeHandle, argv: list[str], *, timeout_s: float) -> ExecResult:
        if not argv:
            raise BadInput("empty command", errors=[FieldProblem("argv", "the command is empty", "give a command")])
        client = self._engine()
        container = self._running(client, handle.ref)
        done = exec_with_timeout(client, container.id, list(argv), timeout_s, workdir="/workspace")
        if done.exit_code in (126, 127) and "executable file not found" in done.output:
            raise BadInput(f"{argv[0]} is not in the workspace",
                           errors=[FieldProblem("argv", f"{argv[0]}: not found in the container's PATH",
                                                "install it in the image, or give its full path")])  # fmt: skip
        return done

    def logs(self, handle: RuntimeHandle, *, tail: int, service: str | None) -> list[str]:
        client = self._engine()
        container = self._container(client, handle.ref)
        files = {n[: -len(".log")]: d for n, d in read_files(container, LOG_DIR).items() if n.endswith(".log")}
        if tail <= 0 and service is None:
            return []
        if service is not None:
            if service not in files:
                raise NotFound(f"no log for service {service!r} in workspace {handle.ref}",
                               fix=f"one of: {', '.join(sorted(files)) or 'none yet'}")  # fmt: skip
            return files[service].decode(errors="replace").splitlines()[-tail:] if tail > 0 else []
        lines: list[str] = []
        for name in sorted(files):
            lines += [f"[{name}] {ln}" for ln in files[name].decode(errors="replace").splitlines()[-tail:]]
        return lines[-tail:]

    def listening(self, handle: RuntimeHandle) -> list[int]:
        client = self._engine()
        container = self._container(client, handle.ref)
        if container.status != "running":
            return []
        table = exec_with_timeout(client, container.id, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], 10)
        # 127.0.0.11 is the engine's embedded DNS resolver in the container's namespace: not ours.
        return listening_ports(table.output, skip_addresses={"0B00007F"})

    def checkpoint(self, handle: RuntimeHandle, into: Path) -> str:
        client = self._engine()
        container = self._container(client, handle.ref)
        if not client.info().get("ExperimentalBuild"):
            return "docker checkpoint unavailable: the engine is not in experimental mode (dockerd --experimental, with criu installed)"
        if container.status != "running":
            return "nothing to checkpoint: the workspace's container is not running"
        into.mkdir(parents=True, exist_ok=True)
        try:
            url = client.api._url("/containers/{0}/checkpoints", container.id)
            body = {"CheckpointID": into.name, "CheckpointDir": str(into.parent), "Exit": False}
            client.api._raise_for_status(client.api._post_json(url, data=body))
        except Exception as exc:
            text = getattr(exc, "explanation", None) or str(exc)
            return f"docker checkpoint failed: {' '.join(str(text).split())[:300]}"
        return "checkpointed"

    def owned(self) -> list[RuntimeHandle]:
        client = self._engine()
        mine = {"label": [f"{LABEL_INSTANCE}={self.instance}", LABEL_WORKSPACE]}
        found: dict[str, dict[str, Any]] = {}
        for c in client.containers.list(all=True, filters=mine):
            found.setdefault(c.labels[LABEL_WORKSPACE], {})["container"] = c.id
        for n in client.networks.list(filters=mine):
            found.setdefault(n.attrs["Labels"][LABEL_WORKSPACE], {})["network"] = n.id
        for i in client.images.list(filters=mine):  # a Dockerfile's build, left by a crash mid-create
            found.setdefault(i.labels[LABEL_WORKSPACE], {})["image"] = i.id
        return [RuntimeHandle("docker", ws, data) for ws, data in sorted(found.items())]

    def state(self, handle: RuntimeHandle) -> str:
        """The engine's word: its container running or not, "gone" when the engine has no
        container of the workspace (removed behind the platform's back), "unknown" when the
        container is another replica's (another instance label) or the handle says another
        instance made it (whose engine this may not be)."""
        _check_id(handle.ref, "ref")
        client = self._engine()
        found = client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={handle.ref}"})
        mine = [c for c in found if c.labels.get(LABEL_INSTANCE) == self.instance]
        if mine:
            return "running" if mine[0].status == "running" else "stopped"
        if found or handle.data.get("instance", self.instance) != self.instance:
            return "unknown"
        return "gone"

    def reattach(self, handle: RuntimeHandle, ports: list[PortMap]) -> list[str]:
        """After a platform restart, the relays its running container had (they lived in the
        platform's process): on the gateway, each port its environment, its services'
        environments or commands name there (from the `.relays` file each service's start
        wrote, and from the running services' own /proc entries); on the host's 127.0.0.1, each
        held port the container was not made with (the bridge added on connect). Only this
        instance's container; a port another process holds is logged, not fatal."""
        client = self._engine()
        found = self._containers(client, handle.ref)
        if not found or found[0].status != "running":
            return []
        container = found[0]
        gateway = self._gateway_of(client, handle.ref)
        wanted = _gateway_ports(_env_of(container), gateway)
        listed = exec_with_timeout(client, container.id, ["sh", "-c", _RELAYS_SCRIPT], 10)
        wanted |= _gateway_ports({0: listed.output}, gateway)
        made: list[str] = []
        for port in sorted(wanted):
            made += self._try_forward(handle.ref, (gateway, port), ("127.0.0.1", port))
        published = set(filter(None, container.labels.get(PORTS_LABEL, "").split(",")))
        unpublished = [p for p in ports if f"{p.inside}:{p.host}" not in published]
        if unpublished:
            address = _address(container)
            for p in unpublished:
                made += self._try_forward(handle.ref, ("127.0.0.1", p.host), (address, p.inside))
        return made

    def _try_forward(self, ws_id: str, listen: tuple[str, int], target: tuple[str, int]) -> list[str]:
        try:
            self._relays.forward(ws_id, listen, target)
        except OSError as exc:
            log.warning("workspace %s: cannot relay %s:%s to %s:%s: %s", ws_id, *listen, *target, exc)
            return []
        return [f"relay {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}"]

    # -- helpers ------------------------------------------------------------------------------

    def _engine(self) -> Any:
        if self._client is None:
            self._client, why = connect(self.base_url)
            return require_engine(self._client, why)
        return self._client

    def _labels(self, ws_id: str) -> dict[str, str]:
        return {LABEL_WORKSPACE: ws_id, LABEL_INSTANCE: self.instance}

    def _filters(self, ws_id: str) -> list[str]:
        return [f"{LABEL_WORKSPACE}={ws_id}", f"{LABEL_INSTANCE}={self.instance}"]

    def _name(self, ws_id: str) -> str:
        return f"codeforge-{ws_id}-{self._suffix}"

    def _image(self, client: Any, ws_id: str, spec: WorkspaceSpec, tree: Path, labels: dict[str, str],
               made: list[tuple[str, str]]) -> tuple[str, dict[str, dict[str, str]]]:  # fmt: skip
        import docker.errors

        if spec.dockerfile:
            base = ensure_base_image(client, self.instance)
            tag = f"codeforge/ws-{hashlib.sha256(f'{self.instance}/{ws_id}'.encode()).hexdigest()[:16]}:latest"
            build_dockerfile(client, base, tree, spec.dockerfile, spec.build_context, spec.build_args, labels, tag)
            made.append(("image", tag))
            return tag, {**host_mounts(), **codeforge_mounts()}
        if spec.image:
            try:
                client.images.get(spec.image)
            except docker.errors.ImageNotFound:
                raise Unavailable(f"the image {spec.image} is not on this Docker engine and no registry is reachable",
                                  fix="build it here, or leave image unset to use the CodeForge base") from None  # fmt: skip
            return spec.image, {}  # its own userland: the host's /usr is not laid over it
        return ensure_base_image(client, self.instance), {**host_mounts(), **codeforge_mounts()}

    def _recreate(self, client: Any, ws_id: str, old: Any, spec: WorkspaceSpec, ports: list[PortMap],
                  gateway: str) -> Any:  # fmt: skip
        """Ports and aliases are fixed when a container is made: make it again with the same
        image, mounts and environment (the tree is a bind mount: nothing of it is lost)."""
        image, binds, env = remake_args(old)
        old.remove(force=True)
        keep = {p.inside for p in ports} | {p.host for p in ports}
        fixed = self._through_gateway(
            ws_id, gateway, inside_env(dict(e.split("=", 1) for e in env if "=" in e), ports), keep
        )
        return make_container(client, self._name(ws_id), self._labels(ws_id), image, binds, fixed, spec, ports)

    def _add(self, client: Any, handle: RuntimeHandle, container: Any, spec: WorkspaceSpec, env: dict[str, str],
             ports: list[PortMap], gateway: str, keep: set[int]) -> None:  # fmt: skip
        """Services added to a running container (the bridge, on connect): the others keep
        running. A port the container was not made with is not published by the engine (that
        would make the container again); a relay on the host's 127.0.0.1:<host port> forwards
        to the container's address on its network instead, as the engine's own proxy does."""
        published = set(filter(None, container.labels.get(PORTS_LABEL, "").split(",")))
        address = _address(container)
        for p in ports:
            if f"{p.inside}:{p.host}" not in published:
                self._relays.forward(handle.ref, ("127.0.0.1", p.host), (address, p.inside))
        for svc in spec.services:  # one left from an earlier add goes first
            exec_with_timeout(
                client, container.id, ["sh", "-c", f"kill $(cat {LOG_DIR}/{svc.name}.pid) 2>/dev/null; true"], 10
            )
        self._services(client, handle, container, spec, env, ports, gateway, keep)

    def _through_gateway(self, ws_id: str, gateway: str, env: dict[Any, str], keep: set[int]) -> dict[Any, str]:
        """`env` with every 127.0.0.1:<port> or localhost:<port> other than the workspace's own
        (`keep`) naming its network's gateway, with a relay there to the host's loopback."""
        out, moved = {}, set()
        for name, value in env.items():
            out[name], ports = to_gateway(value, gateway, keep)
            moved |= ports
        self._relays.ensure(ws_id, gateway, moved)
        return out

    def _gateway_of(self, client: Any, ws_id: str) -> str:
        found = client.networks.list(filters={"label": self._filters(ws_id)})
        if not found:
            raise NotFound(f"the docker runtime has no network for workspace {ws_id!r}", fix="create it again")
        return _gateway(found[0])

    def _containers(self, client: Any, ws_id: str) -> list[Any]:
        return list(client.containers.list(all=True, filters={"label": self._filters(ws_id)}))

    def _container(self, client: Any, ws_id: str) -> Any:
        _check_id(ws_id, "ref")
        found = self._containers(client, ws_id)
        if not found:
            raise NotFound(f"the docker runtime has no workspace {ws_id!r}", fix="create it first")
        return found[0]

    def _running(self, client: Any, ws_id: str) -> Any:
        container = self._container(client, ws_id)
        if container.status != "running":
            raise Conflict(f"workspace {ws_id}'s container is {container.status}", fix="start the workspace first")
        return container

    def _wait_ready(self, client: Any, handle: RuntimeHandle, container: Any, name: str, exec_id: str,
                    port: int | None) -> None:  # fmt: skip
        """A service that exits, or never listens on its port, fails the start with its log's
        tail; the workspace is stopped."""

        def exit_code() -> int | None:
            state = client.api.exec_inspect(exec_id)
            ended = not state.get("Running") and state.get("ExitCode") is not None and state.get("Pid")
            return int(state["ExitCode"]) if ended else None

        def refuse_exit(code: int) -> None:
            if code == 127:
                raise BadInput(f"service {name!r}: its command is not in the workspace",
                               errors=[FieldProblem(f"services.{name}.command", "not found in the container's PATH",
                                                    "install it in the image, or give its full path")])  # fmt: skip

        wait_ready(
            name,
            port,
            self.ready_timeout_s,
            exit_code=exit_code,
            listening=lambda: self.listening(handle),
            log_tail=lambda: "\n".join(self.logs(handle, tail=20, service=name)),
            give_up=lambda: self.stop(handle),
            refuse_exit=refuse_exit,
            listen_fix="make it listen on $PORT on all addresses (0.0.0.0)",
            poll_s=0.1,
        )

    def _undo(self, client: Any, made: list[tuple[str, str]]) -> None:
        """Remove what was made, newest first; what is already gone is fine."""
        import docker.errors

        for kind, ref in reversed(made):
            with contextlib.suppress(docker.errors.NotFound):
                if kind == "container":
                    client.containers.get(ref).remove(force=True, v=True)
                elif kind == "network":
                    client.networks.get(ref).remove()
                else:
                    client.images.remove(ref, force=True)


def inside_env(env: dict[str, str], ports: list[PortMap]) -> dict[str, str]:
    """`env` as seen from inside the container: a host port published on the host's loopback
    answers nothing there, so every value naming one (CODEFORGE_SERVICE_<NAME>_URL, a clone's
    remapped variables) names the port inside instead, where the service listens (all of a
    workspace's services share the container's loopback)."""
    return remap_env(env, {p.host: p.inside for p in ports if p.host != p.inside})


def _gateway(network: Any) -> str:
    """The host's address on a network: its IPAM gateway."""
    network.reload()
    for config in network.attrs.get("IPAM", {}).get("Config") or []:
        if config.get("Gateway") and ":" not in config["Gateway"]:
            return str(config["Gateway"])
    raise Unavailable(f"the docker network {network.name} has no IPv4 gateway", fix="check the engine's address pools")


def _address(container: Any) -> str:
    container.reload()
    for net in container.attrs["NetworkSettings"]["Networks"].values():
        if net.get("IPAddress"):
            return str(net["IPAddress"])
    raise Unavailable(f"the container {container.name} has no address", fix="start the workspace again")


def _env_of(container: Any) -> dict[str, str]:
    return dict(e.split("=", 1) for e in container.attrs["Config"].get("Env") or [] if "=" in e)


def _gateway_ports(env: Mapping[Any, str], gateway: str) -> set[int]:
    """The ports an environment names at the gateway (the relays it needs)."""
    named = re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(gateway)}:(\d{{1,5}})(?![0-9])")
    return {int(m[1]) for value in env.values() for m in named.finditer(value)}


def _crash_point(operation: str, kind: str) -> None:
    """Fault injection for the crash tests, as in journal.py: with
    CODEFORGE_WORKSPACES_CRASH_AT=docker.start:container-started the platform kills itself once
    a workspace's container runs and before its services start (a death the journal's steps
    cannot name: inside the `runtime` step). Unset in production."""
    if os.environ.get("CODEFORGE_WORKSPACES_CRASH_AT") == f"{operation}:{kind}":
        os.kill(os.getpid(), signal.SIGKILL)


def _check_id(ws_id: str, field: str) -> None:
    if not _ID.match(ws_id):
        raise BadInput("bad workspace id", errors=[FieldProblem(field, f"{ws_id!r} is not a safe name",
                                                                "use letters, digits, '-', '_', '.'")])  # fmt: skip


def _check_services(spec: WorkspaceSpec) -> None:
    empty = [
        FieldProblem(f"services.{s.name}.command", "is empty", "give a command") for s in spec.services if not s.command
    ]
    if empty:
        raise BadInput("empty command", errors=empty)
    bad = [s.name for s in spec.services if not _SERVICE.match(s.name)]
    if bad:
        raise BadInput("bad service names", errors=[
            FieldProblem(f"services.{n}", f"{n!r} is not a host name (it is the service's name on the network)",
                         "use lower-case letters, digits and '-'") for n in bad])  # fmt: skip
