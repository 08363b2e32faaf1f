"""The Kubernetes runtime (docs/workspaces.md, "Runtimes"): a workspace is one Pod (the bridge
and one container per service, sharing the Pod's network, so services reach each other on
localhost as they do locally), a PersistentVolumeClaim holding the tree at /workspace, a Secret
holding the workspace's environment (it may carry the bridge's token and other secrets, so it
is not written into the Pod's manifest), and one ClusterIP Service exposing the bridge, the
forwarded ports and the services' ports; and a NodePort Service per host port.

The tree gets into the claim the way `kubectl cp` does it: a tar made here (`tree_archive`)
streamed through the exec API into `tar xf - -C /workspace` in the Pod (behind `head -c`, see
`copy_command`). It goes into the Pod's `setup` init container, which waits for the platform
(see kubernetes_manifests). Why there and not into a running app container: that would need the
bridge and the services already running on an empty tree (a service whose folder is not there
yet exits and is restarted with back-off), while the init container holds them back until the
files are in and the post-create commands (`exec` while `setup` runs goes to it) are done;
`start` then releases it. The official client does both the same way (exec works on a running
init container); only this one starts nothing on a partial tree.

`exec` runs each command behind a shell that says its pid, so one past its timeout is killed
(with its children) by a second exec: the exec API cannot stop what it started.

Manifests are the official client's models (`kubernetes_manifests.py`, no I/O, validated by the
tests against those models); `KubernetesRuntime` applies them with `CoreV1Api` where a cluster is
configured (a kubeconfig, or the Pod's service account in a cluster). Everything it makes
carries LABEL_WORKSPACE and LABEL_INSTANCE, so `owned()` finds it for the crash cleanup."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable
from codeforge.platform.workspaces.runtimes.kubernetes_manifests import (
    BRIDGE_CONTAINER,
    DEFAULT_DISK_MB,
    LABEL_HOST_PORT,
    NODE_PORT_RANGE,
    PREFIX,
    READY_FILE,
    SETUP_CONTAINER,
    Manifests,
    build_manifests,
    copy_command,
    object_names,
)
from codeforge.platform.workspaces.runtimes.proc_net import listening_ports

__all__ = [
    "KubernetesRuntime",
    "TreeArchive",
    "exec_argv",
    "exec_container",
    "exec_request",
    "exec_status",
    "kill_argv",
    "setup_state",
    "split_pid",
    "tree_archive",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

BLOCK = 4096  # what one file takes at least on the claim's filesystem (ext4, xfs)
CHUNK = 256 * 1024  # bytes of the tar per websocket frame
ERROR_CHANNEL = 3  # the exec API's status channel (kubernetes.stream.ws_client)
STDIN_CHANNEL = 0
# The setup container cannot start and will not by waiting: said at once rather than at the timeout.
FATAL_WAITING = {
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}


@dataclass
class TreeArchive:
    """A tar of a workspace's tree, in a temporary file (closing it deletes it). `needed_bytes`:
    what extracting it takes on a filesystem of 4 KiB blocks (each file and folder rounded up),
    the figure compared with the claim's size; `skipped`: what a tar cannot carry (sockets,
    devices), by path."""

    file: IO[bytes]
    size_bytes: int
    needed_bytes: int
    members: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.file.close()


def _blocks(n: int) -> int:
    return max(1, -(-n // BLOCK)) * BLOCK


def tree_archive(tree: Path, *, limit_bytes: int) -> TreeArchive:
    """The tree as a tar (paths relative to it, symlinks kept as links and never followed, hard
    links as links, owner root: a tar run as another user keeps its own), refused with BadInput
    when it needs more than `limit_bytes` (the claim's size), measured before it is written."""
    entries: list[tuple[Path, str]] = []
    needed = 0
    skipped: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        nonlocal needed
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            arc = f"{prefix}{child.name}"
            mode = child.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                needed += BLOCK
                entries.append((Path(child.path), arc))
                walk(Path(child.path), arc + "/")
            elif stat.S_ISREG(mode):
                needed += _blocks(child.stat(follow_symlinks=False).st_size)
                entries.append((Path(child.path), arc))
            elif stat.S_ISLNK(mode):
                entries.append((Path(child.path), arc))
            else:
                skipped.append(arc)

    walk(tree, "")
    if needed > limit_bytes:
        mib = 1024 * 1024
        raise BadInput(
            f"the workspace's tree needs {needed / mib:.1f} MiB (files rounded up to 4 KiB blocks), "
            f"more than its claim's {limit_bytes / mib:.0f} MiB",
            errors=[
                FieldProblem(
                    "limits.disk_mb",
                    f"{limit_bytes // mib} MiB cannot hold the tree",
                    f"give at least {-(-needed // mib)} MiB, or remove files from the tree",
                )
            ],
        )
    spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    try:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, arc in entries:
                info = tar.gettarinfo(str(path), arcname=arc)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return TreeArchive(spool, size, needed, [arc for _, arc in entries], skipped)


def exec_request(container: str, argv: list[str] | tuple[str, ...], *, stdin: bool) -> dict[str, Any]:
    """The arguments `kubernetes.stream.stream(api.connect_get_namespaced_pod_exec, pod, ns, ...)`
    is called with: the command as its own argv (no shell in between), no terminal."""
    return {
        "container": container,
        "command": list(argv),
        "stdin": stdin,
        "stdout": True,
        "stderr": True,
        "tty": False,
        "_preload_content": False,
    }


PID_LINE = re.compile(r"codeforge-exec-pid (\d+)\n")
# Each command is started by a shell that says its pid (on stderr, before anything the command
# prints) and then becomes the command: the exec API cannot stop what it started, so a command
# past its timeout is killed by that pid, with a second exec (kill_argv).
EXEC_WRAPPER = 'echo "codeforge-exec-pid $$" >&2; exec "$@"'
# The process, stopped first (it makes no more children), then its descendants (found by their
# PPid in /proc: no pkill in busybox or slim images), then itself.
KILL_TREE = (
    'kill_tree() { kill -STOP "$1" 2>/dev/null; '
    'for c in $(grep -l "^PPid:[[:space:]]*$1\\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); '
    'do kill_tree "$c"; done; kill -KILL "$1" 2>/dev/null; }; '
    # Gone, or a zombie its parent (the container runtime's exec) has not reaped yet: dead.
    'kill_tree "$1"; sleep 0.1 2>/dev/null || sleep 1; ! grep -qs "^State:[[:space:]]*[RSDTtIPWK]" "/proc/$1/status"'
)


def exec_argv(argv: list[str] | tuple[str, ...]) -> list[str]:
    """The command line `exec` sends: `argv` as it is (no shell parsing of it), behind a shell
    that says its pid."""
    return ["sh", "-c", EXEC_WRAPPER, "sh", *argv]


def kill_argv(pid: int) -> list[str]:
    """The command line that kills the process `pid` and its descendants in the same container."""
    return ["sh", "-c", KILL_TREE, "sh", str(int(pid))]


def split_pid(output: str) -> tuple[int | None, str]:
    """The pid EXEC_WRAPPER said and the output without that line."""
    found = PID_LINE.search(output)
    if found is None:
        return None, output
    return int(found.group(1)), output[: found.start()] + output[found.end() :]


def exec_status(text: str) -> tuple[int | None, str]:
    """The exit code and message in the exec API's status channel (a metav1.Status): 0 for
    Success, the ExitCode cause for a command that ran and failed, None (and the message) when
    the command did not run at all (no such container, no such program)."""
    if not text.strip():
        return None, "the exec session ended without a status (the connection was lost)"
    try:
        status = json.loads(text)
    except ValueError:
        return None, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), str(status.get("message") or "")
            except (TypeError, ValueError):
                break
    return None, str(status.get("message") or text.strip())


def _finish(resp: Any, timeout_s: float, argv: list[str] | tuple[str, ...]) -> ExecResult:
    """A finished exec session's output and exit code. The status channel is read before the
    output: the client's `read_all` empties every channel, and its `returncode` fails on a
    status without an exit code (a program that is not there)."""
    status = resp.read_channel(ERROR_CHANNEL)
    output = resp.read_all()
    code, message = exec_status(status)
    if code is not None:
        return ExecResult(code, output)
    if "executable file not found" in message or "no such file or directory" in message.lower():
        raise BadInput(
            f"{argv[0]} is not in the workspace: {message}",
            errors=[
                FieldProblem(
                    "argv", f"{argv[0]}: not found in the container", "install it in the image, or give its full path"
                )
            ],
        )
    raise ExternalFailure(f"`{' '.join(argv)}` did not run: {message}\n{output}".rstrip(), fix="see the Pod's events")


def exec_container(pod: Any) -> tuple[str | None, str]:
    """Which container `exec` runs in: setup while it runs, else the first service's, else
    the bridge's, the first that runs; (None, why) when none does."""
    if setup_state(pod)[0] == "running":
        return SETUP_CONTAINER, ""
    names = [c.name for c in (pod.spec.containers if pod.spec else [])]
    candidates = [*names[1:2], BRIDGE_CONTAINER]
    statuses = {c.name: c for c in ((pod.status.container_statuses if pod.status else None) or [])}
    said = []
    for name in candidates:
        st = statuses.get(name)
        if st is not None and st.state is not None and st.state.running is not None:
            return name, ""
        waiting = st.state.waiting if st is not None and st.state is not None else None
        said.append(f"{name}: {waiting.reason if waiting is not None else 'not running'}")
    return None, "; ".join(said)


def setup_state(pod: Any) -> tuple[str, str]:
    """Where the Pod's setup init container is: ("running", ""), ("waiting", why),
    ("failed", why) or ("absent", "") when the Pod has none or it has finished."""
    spec_inits = [c.name for c in (pod.spec.init_containers or [])] if pod.spec else []
    if SETUP_CONTAINER not in spec_inits:
        return "absent", ""
    status = pod.status
    if status is not None and status.phase == "Failed":
        return "failed", f"the Pod failed: {status.reason or ''} {status.message or ''}".strip()
    for c in (status.init_container_statuses if status is not None else None) or []:
        if c.name != SETUP_CONTAINER or c.state is None:
            continue
        if c.state.running is not None:
            return "running", ""
        if c.state.terminated is not None:
            t = c.state.terminated
            if t.exit_code == 0:
                return "absent", ""
            return "failed", f"the setup container exited with code {t.exit_code} ({t.reason or 'no reason'})"
        if c.state.waiting is not None:
            w = c.state.waiting
            why = f"{w.reason or 'waiting'}: {w.message or ''}".strip().rstrip(":")
            return ("failed" if w.reason in FATAL_WAITING else "waiting"), why
    conditions = (status.conditions if status is not None else None) or []
    for cond in conditions:
        if cond.type == "PodScheduled" and cond.status == "False":
            return "waiting", f"not scheduled: {cond.reason or ''} {cond.message or ''}".strip()
    return "waiting", f"the Pod is {status.phase if status is not None and status.phase else 'pending'}"


class KubernetesRuntime:
    """Workspaces as Pods in `namespace` of the cluster a kubeconfig (or the Pod's own service
    account, in a cluster) points at."""

    name = "kubernetes"

    def __init__(
        self,
        *,
        instance: str,
        image: str,
        bridge_image: str | None = None,
        namespace: str = "default",
        kubeconfig: Path | None = None,
        context: str | None = None,
        platform_url: str | None = None,
        project: str | None = None,
        storage_class: str | None = None,
        request_timeout_s: float = 10.0,
        start_timeout_s: float = 300.0,
        copy_timeout_s: float = 1800.0,
        node_port_range: tuple[int, int] = NODE_PORT_RANGE,
    ) -> None:
        self.instance = instance
        self.image = image
        self.bridge_image = bridge_image
        self.namespace = namespace
        self.kubeconfig = kubeconfig or Path(
            (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or Path.home() / ".kube" / "config"
        )
        self.context = context
        self.platform_url = platform_url
        self.project = project
        self.storage_class = storage_class
        self.timeout = request_timeout_s
        self.start_timeout = start_timeout_s  # the setup container running (image pulled, scheduled)
        self.node_port_range = node_port_range
        self.copy_timeout = copy_timeout_s  # the tree's tar streamed into the claim
        self._core: k8s.CoreV1Api | None = None
        self._streams: k8s.CoreV1Api | None = None

    # -- the cluster ---------------------------------------------------------------------------

    def _api(self) -> k8s.CoreV1Api:
        if self._core is not None:
            return self._core
        try:
            if self.kubeconfig.is_file():
                api_client = k8s_config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                configuration = k8s.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                api_client = k8s.ApiClient(configuration)
            else:
                raise Unavailable(
                    f"no cluster: no kubeconfig at {self.kubeconfig} and not running in a cluster "
                    "(KUBERNETES_SERVICE_HOST is unset)",
                    fix="set KUBECONFIG to a cluster's kubeconfig, or run the platform in a Pod",
                )
        except Unavailable:
            raise
        except Exception as exc:  # a garbled kubeconfig, a missing context, no service account token
            where = self.kubeconfig if self.kubeconfig.is_file() else "the Pod's service account"
            raise Unavailable(
                f"no cluster: the configuration in {where} could not be read: {exc}",
                fix="fix the kubeconfig (`kubectl config view` reads it) or point KUBECONFIG at another",
            ) from exc
        self._core = k8s.CoreV1Api(api_client)
        # `kubernetes.stream.stream` swaps its ApiClient's `request` for a websocket one while
        # it runs: exec sessions get an ApiClient of their own, so no other call goes that way.
        self._streams = k8s.CoreV1Api(k8s.ApiClient(api_client.configuration))
        return self._core

    def _stream_api(self) -> k8s.CoreV1Api:
        self._api()
        assert self._streams is not None
        return self._streams

    def _call(self, what: str, call: Callable[[], T], *, gone_ok: bool = False) -> T | None:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404 and gone_ok:
                return None
            reason = f"{what}: the cluster answered {exc.status} {exc.reason}"
            try:  # the API's Status says which field and why (a node port taken, out of range)
                said = json.loads(exc.body or "").get("message")
            except (ValueError, AttributeError):
                said = None
            if said:
                reason += f": {said}"
            if exc.status == 404:
                raise NotFound(reason, fix="check the workspace still exists (`workspaces.list`)") from exc
            if exc.status == 409:
                raise Conflict(reason, fix="delete the workspace's leftovers first (`workspaces.delete`)") from exc
            raise ExternalFailure(reason, fix=f"see `kubectl -n {self.namespace} get events`") from exc
        except CodeForgeError:  # Unavailable, or what a step said itself
            raise
        except Exception as exc:  # urllib3's connection errors, TLS, a bad kubeconfig
            raise Unavailable(
                f"{what}: the cluster did not answer: {exc}", fix="check the cluster and the kubeconfig"
            ) from exc

    def available(self) -> str | None:
        try:
            api = self._api()
        except Unavailable as exc:
            return exc.message
        try:
            api.list_namespaced_pod(self.namespace, limit=1, _request_timeout=self.timeout)
        except ApiException as exc:
            return f"cluster answered {exc.status} {exc.reason} listing Pods in {self.namespace!r}: check the credentials' permissions"
        except Exception as exc:
            return f"cluster at {api.api_client.configuration.host} did not answer: {exc}"
        return None

    # -- the protocol ----------------------------------------------------------------------------

    def manifests(
        self,
        ws_id: str,
        spec: WorkspaceSpec,
        env: dict[str, str],
        ports: list[PortMap] | None = None,
        *,
        setup: bool = False,
    ) -> Manifests:
        bridge_args: list[str] = []
        if self.platform_url:
            bridge_args += ["--url", self.platform_url]
        if self.project:
            bridge_args += ["--project", self.project]
        return build_manifests(
            ws_id,
            spec,
            env,
            instance=self.instance,
            image=self.image,
            bridge_image=self.bridge_image,
            bridge_args=tuple(bridge_args),
            ports=ports,
            storage_class=self.storage_class,
            setup=setup,
            node_port_range=self.node_port_range,
        )

    def create(self, ws_id: str, spec: WorkspaceSpec, tree: Path, env: dict[str, str]) -> RuntimeHandle:
        """The Secret, the claim and the Pod, its setup container running with the tree copied
        into the claim; the post-create commands then run in it (`exec`), and `start` lets the
        bridge and the services start. Nothing is left made when a step fails."""
        made = self.manifests(ws_id, spec, env, setup=True)  # validates before anything is made
        claim_mb = spec.limits.disk_mb or DEFAULT_DISK_MB
        archive = tree_archive(tree, limit_bytes=claim_mb * 1024 * 1024)  # refused before anything is made
        try:
            api = self._api()
            ns, t, names = self.namespace, self.timeout, object_names(ws_id)
            undo: list[tuple[str, Callable[[], object]]] = []
            try:
                self._call(
                    "create the workspace's Secret",
                    lambda: api.create_namespaced_secret(ns, made.secret, _request_timeout=t),
                )
                undo.append(("remove the Secret", lambda: api.delete_namespaced_secret(names["secret"], ns)))
                self._call(
                    "create the workspace's claim",
                    lambda: api.create_namespaced_persistent_volume_claim(ns, made.claim, _request_timeout=t),
                )
                undo.append(
                    ("remove the claim", lambda: api.delete_namespaced_persistent_volume_claim(names["claim"], ns))
                )
                self._call("create the Pod", lambda: api.create_namespaced_pod(ns, made.pod, _request_timeout=t))
                undo.append(
                    ("remove the Pod", lambda: api.delete_namespaced_pod(names["pod"], ns, grace_period_seconds=0))
                )
                self._wait_setup(api, ns, names["pod"])
                self._copy_tree(ns, names["pod"], archive)
            except Exception:
                for what, step in reversed(undo):
                    self._call(what, step, gone_ok=True)
                raise
        finally:
            archive.close()
        if archive.skipped:
            log.warning("workspace %s: not copied into the claim (not files): %s", ws_id, ", ".join(archive.skipped))
        return RuntimeHandle(
            self.name, names["pod"], {"ws_id": ws_id, "namespace": ns, "tree": str(tree), "claim_mb": claim_mb}
        )

    def _read_pod(self, api: k8s.CoreV1Api, ns: str, pod: str) -> Any:
        return self._call("read the Pod", lambda: api.read_namespaced_pod(pod, ns, _request_timeout=self.timeout))

    def _wait_setup(self, api: k8s.CoreV1Api, ns: str, pod: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        why = ""
        while time.monotonic() < deadline:
            state, why = setup_state(self._read_pod(api, ns, pod))
            if state == "running":
                return
            if state in ("failed", "absent"):
                raise ExternalFailure(
                    f"the workspace's Pod {pod} cannot start its setup container: {why or 'it is not there'}",
                    fix=f"see `kubectl -n {ns} describe pod {pod}` (the image must be pullable and hold sh and tar)",
                )
            time.sleep(0.5)
        raise ExternalFailure(
            f"the workspace's Pod {pod} did not run its setup container within {self.start_timeout:g} s: {why}",
            fix=f"see `kubectl -n {ns} describe pod {pod}`",
        )

    def _copy_tree(self, ns: str, pod: str, archive: TreeArchive) -> None:
        """`kubectl cp`'s way: the tar on the exec's stdin, into `tar xf - -C /workspace` behind
        `head -c <its size>` (copy_command: the v4 protocol cannot end stdin). Its end is also
        said on the v5 protocol (Kubernetes 1.30 and later)."""
        from kubernetes.stream import stream  # the websocket client, only when it is used
        from websocket import WebSocketException

        command = copy_command(archive.size_bytes)

        def run() -> ExecResult:
            resp: Any = stream(
                self._stream_api().connect_get_namespaced_pod_exec,
                pod,
                ns,
                **exec_request(SETUP_CONTAINER, command, stdin=True),
            )
            deadline = time.monotonic() + self.copy_timeout
            late = ExecResult(124, f"not done within {self.copy_timeout:g} s (copy_timeout_s)")
            try:
                archive.file.seek(0)
                while resp.is_open() and (chunk := archive.file.read(CHUNK)):
                    if time.monotonic() > deadline:
                        resp.close()
                        return late
                    resp.write_stdin(chunk)
                    resp.update(timeout=0)
                resp.close_channel(STDIN_CHANNEL)
            except (OSError, WebSocketException):
                pass  # tar ended early (a full volume): its status says why
            resp.run_forever(timeout=max(1.0, deadline - time.monotonic()))
            if resp.is_open():
                resp.close()
                return late
            return _finish(resp, self.copy_timeout, command)

        done = self._call(f"copy the tree into the Pod {pod}", run)
        assert done is not None
        if done.exit_code != 0:
            raise ExternalFailure(
                f"copying the tree ({archive.size_bytes / 1048576:.1f} MiB of tar) into the claim failed "
                f"with exit code {done.exit_code}: {done.output.strip()[-2000:]}",
                fix="the workspace's image must hold tar; a full claim needs a larger disk limit",
            )

    def _where(self, handle: RuntimeHandle) -> tuple[k8s.CoreV1Api, str, dict[str, str]]:
        ws_id = str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX))
        return self._api(), str(handle.data.get("namespace") or self.namespace), object_names(ws_id)

    def start(self, handle: RuntimeHandle, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap]) -> None:
        """The Secret brought up to date, the Services (one ClusterIP, one NodePort per host
        port), then the Pod: released from its setup when `create` made it, made again (with no
        setup: the claim holds the tree) when a `stop` removed it."""
        api, ns, names = self._where(handle)
        made = self.manifests(str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX)), spec, env, ports)
        t = self.timeout
        self._call(
            "update the workspace's Secret",
            lambda: api.replace_namespaced_secret(names["secret"], ns, made.secret, _request_timeout=t),
        )
        for service in (made.service, *made.node_ports):
            name = service.metadata.name
            found = self._call(
                f"read the Service {name}",
                partial(api.read_namespaced_service, name, ns, _request_timeout=t),
                gone_ok=True,
            )
            if found is None:
                self._call(
                    f"create the Service {name}",
                    partial(api.create_namespaced_service, ns, service, _request_timeout=t),
                )
        for said in made.not_host_ports:
            log.warning("workspace %s: %s", handle.ref, said)
        pod = self._call(
            "read the Pod", lambda: api.read_namespaced_pod(names["pod"], ns, _request_timeout=t), gone_ok=True
        )
        if pod is None:
            self._call("create the Pod", lambda: api.create_namespaced_pod(ns, made.pod, _request_timeout=t))
        elif setup_state(pod)[0] == "running":
            done = self._exec(ns, names["pod"], SETUP_CONTAINER, ["touch", READY_FILE], self.timeout, wrap=False)
            if done.exit_code != 0:
                raise ExternalFailure(
                    f"the workspace's setup container could not be released: {done.output.strip()}",
                    fix=f"see `kubectl -n {ns} describe pod {names['pod']}`",
                )

    def node_ports(self, handle: RuntimeHandle) -> list[tuple[int, int, int | None]]:
        """(port inside, host port asked for, node port the cluster gave) for each NodePort
        Service: the two differ where the host port is outside the cluster's NodePort range."""
        api, ns, _ = self._where(handle)
        ws_id = str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX))
        listing = self._call(
            "list the NodePort Services",
            lambda: api.list_namespaced_service(
                ns, label_selector=f"{LABEL_WORKSPACE}={ws_id},{LABEL_HOST_PORT}", _request_timeout=self.timeout
            ),
        )
        found = []
        for item in listing.items if listing is not None else []:
            asked = int(item.metadata.labels[LABEL_HOST_PORT])
            for p in item.spec.ports or []:
                found.append((int(p.port), asked, p.node_port))
        return sorted(found)

    def stop(self, handle: RuntimeHandle) -> None:
        api, ns, names = self._where(handle)
        ws_id = str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX))
        t = self.timeout
        self._call(
            "delete the Pod", lambda: api.delete_namespaced_pod(names["pod"], ns, _request_timeout=t), gone_ok=True
        )
        self._call(
            "delete the Service",
            lambda: api.delete_namespaced_service(names["service"], ns, _request_timeout=t),
            gone_ok=True,
        )
        listing = self._call(
            "list the NodePort Services",
            lambda: api.list_namespaced_service(
                ns, label_selector=f"{LABEL_WORKSPACE}={ws_id},{LABEL_HOST_PORT}", _request_timeout=t
            ),
        )
        for item in listing.items if listing is not None else []:
            name = item.metadata.name
            self._call(
                f"delete the Service {name}",
                partial(api.delete_namespaced_service, name, ns, _request_timeout=t),
                gone_ok=True,
            )

    def delete(self, handle: RuntimeHandle) -> None:
        self.stop(handle)
        api, ns, names = self._where(handle)
        t = self.timeout
        self._call(
            "delete the Secret",
            lambda: api.delete_namespaced_secret(names["secret"], ns, _request_timeout=t),
            gone_ok=True,
        )
        self._call(
            "delete the claim",
            lambda: api.delete_namespaced_persistent_volume_claim(names["claim"], ns, _request_timeout=t),
            gone_ok=True,
        )

    def exec(self, handle: RuntimeHandle, argv: list[str], *, timeout_s: float) -> ExecResult:
        """`argv` in the Pod: in its setup container while that runs (between `create` and
        `start`: the post-create commands), else in the first service's container, else the
        bridge's (the first of them that runs)."""
        if not argv:
            raise BadInput("empty command", errors=[FieldProblem("argv", "the command is empty", "give a command")])
        api, ns, names = self._where(handle)
        pod = self._call(
            "read the Pod",
            lambda: api.read_namespaced_pod(names["pod"], ns, _request_timeout=self.timeout),
            gone_ok=True,
        )
        if pod is None:
            raise NotFound(f"the workspace's Pod {names['pod']} is not there", fix="start the workspace")
        container, why = exec_container(pod)
        if container is None:
            raise ExternalFailure(
                f"no container of the workspace's Pod {names['pod']} runs: {why}",
                fix=f"see `kubectl -n {ns} describe pod {names['pod']}`",
            )
        return self._exec(ns, names["pod"], container, argv, timeout_s)

    def _exec(
        self, ns: str, pod: str, container: str, argv: list[str], timeout_s: float, *, wrap: bool = True
    ) -> ExecResult:
        """`argv` in `container`: its output (both streams, in order) and exit code; past
        `timeout_s`, 124 and the command killed (`wrap`: through the pid it said)."""
        from kubernetes.stream import stream  # the websocket client, only when a command runs

        def run() -> ExecResult:
            resp: Any = stream(
                self._stream_api().connect_get_namespaced_pod_exec,
                pod,
                ns,
                **exec_request(container, exec_argv(argv) if wrap else argv, stdin=False),
            )
            resp.run_forever(timeout=timeout_s)
            if not resp.is_open():
                done = _finish(resp, timeout_s, argv)
                return ExecResult(done.exit_code, split_pid(done.output)[1] if wrap else done.output)
            pid, output = split_pid(resp.read_all())
            resp.close()
            killed = False
            if wrap and pid is not None:
                try:
                    killed = self._exec(ns, pod, container, kill_argv(pid), 10, wrap=False).exit_code == 0
                except CodeForgeError:
                    killed = False
            what = "was killed" if killed else "could not be killed: it may still run in the container"
            return ExecResult(124, f"{output}\n[timed out after {timeout_s:g}s: {' '.join(argv)} {what}]")

        result = self._call(f"run {argv[:1]} in the workspace", run)
        assert result is not None
        return result

    def logs(self, handle: RuntimeHandle, *, tail: int, service: str | None) -> list[str]:
        api, ns, names = self._where(handle)
        container = service or BRIDGE_CONTAINER
        text = self._call(
            f"read {container}'s log",
            lambda: api.read_namespaced_pod_log(
                names["pod"], ns, container=container, tail_lines=tail, _request_timeout=self.timeout
            ),
        )
        return str(text or "").splitlines()

    def listening(self, handle: RuntimeHandle) -> list[int]:
        # The Pod's containers share one network namespace: the bridge's view is the workspace's.
        done = self.exec(handle, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout_s=self.timeout)
        return listening_ports(done.output)

    def checkpoint(self, handle: RuntimeHandle, into: Path) -> str:
        return (
            "not checkpointed: the kubernetes runtime does not checkpoint processes "
            "(the kubelet's checkpoint API makes archives it cannot restore from)"
        )

    def state(self, handle: RuntimeHandle) -> str:
        """The cluster's word: the Pod running (or pending: scheduled, pulling) is "running";
        one that ended, or none while the claim holds the tree (a stop removes the Pod), is
        "stopped"; neither Pod nor claim is "gone"; another instance's Pod is "unknown"."""
        api, ns, names = self._where(handle)
        t = self.timeout
        pod = self._call(
            "read the Pod", lambda: api.read_namespaced_pod(names["pod"], ns, _request_timeout=t), gone_ok=True
        )
        if pod is not None:
            labels = (pod.metadata.labels if pod.metadata is not None else None) or {}
            if labels.get(LABEL_INSTANCE, self.instance) != self.instance:
                return "unknown"
            phase = pod.status.phase if pod.status is not None else None
            return "stopped" if phase in ("Succeeded", "Failed") else "running"
        claim = self._call(
            "read the claim",
            lambda: api.read_namespaced_persistent_volume_claim(names["claim"], ns, _request_timeout=t),
            gone_ok=True,
        )
        return "stopped" if claim is not None else "gone"

    def reattach(self, handle: RuntimeHandle, ports: list[PortMap]) -> list[str]:
        # The Pod, its Services and NodePorts are the cluster's: nothing lived in the platform.
        return []

    def owned(self) -> list[RuntimeHandle]:
        api = self._api()
        ns, t = self.namespace, self.timeout
        selector = f"{LABEL_INSTANCE}={self.instance}"
        listings = [
            self._call("list Pods", lambda: api.list_namespaced_pod(ns, label_selector=selector, _request_timeout=t)),
            self._call(
                "list Services", lambda: api.list_namespaced_service(ns, label_selector=selector, _request_timeout=t)
            ),
            self._call(
                "list claims",
                lambda: api.list_namespaced_persistent_volume_claim(ns, label_selector=selector, _request_timeout=t),
            ),
            self._call(
                "list Secrets", lambda: api.list_namespaced_secret(ns, label_selector=selector, _request_timeout=t)
            ),
        ]
        ids = {
            item.metadata.labels[LABEL_WORKSPACE]
            for listing in listings
            for item in (listing.items if listing is not None else [])
            if item.metadata and item.metadata.labels and LABEL_WORKSPACE in item.metadata.labels
        }
        return [RuntimeHandle(self.name, object_names(i)["pod"], {"ws_id": i, "namespace": ns}) for i in sorted(ids)]
