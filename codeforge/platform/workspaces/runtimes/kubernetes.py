"""The Kubernetes runtime (docs/workspaces.md, "Runtimes"): a workspace is one Pod (the bridge
and one container per service, sharing the Pod's network, so services reach each other on
localhost as they do locally), a PersistentVolumeClaim holding the tree at /workspace, a Secret
holding the workspace's environment (it may carry the bridge's token and other secrets, so it
is not written into the Pod's manifest), and one ClusterIP Service exposing the bridge, the
forwarded ports and the services' ports.

Manifests are the official client's models (`build_manifests`, no I/O, validated by the tests
against those models); `KubernetesRuntime` applies them with `CoreV1Api` where a cluster is
configured (a kubeconfig, or the Pod's service account in a cluster). Everything it makes
carries LABEL_WORKSPACE and LABEL_INSTANCE, so `owned()` finds it for the crash cleanup."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable

__all__ = [
    "BRIDGE_CONTAINER",
    "BRIDGE_PORT",
    "MOUNT",
    "KubernetesRuntime",
    "Manifests",
    "build_manifests",
    "object_names",
    "parse_proc_net_tcp",
]

BRIDGE_CONTAINER = "bridge"
BRIDGE_PORT = 8471  # `codeforge bridge`'s default port
MOUNT = "/workspace"
PREFIX = "cf-ws-"
# The longest suffix added to the prefixed id is "-tree"/"-env": every name stays a DNS-1123 label (63).
MAX_ID = 63 - len(PREFIX) - len("-tree")
MIN_MEMORY_MB = 16  # per container: below this, runtimes refuse to start a container at all
DEFAULT_DISK_MB = 10 * 1024  # the claim's size when the spec sets no disk limit

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z0-9]+$")  # a Secret's key, which envFrom turns into a variable
TCP_LISTEN = "0A"

T = TypeVar("T")


@dataclass(frozen=True)
class Manifests:
    pod: k8s.V1Pod
    claim: k8s.V1PersistentVolumeClaim
    service: k8s.V1Service
    secret: k8s.V1Secret


def object_names(ws_id: str) -> dict[str, str]:
    """The names of what a workspace is made of, derived from its id (which must be a DNS-1123 label)."""
    base = PREFIX + ws_id
    return {"pod": base, "service": base, "claim": f"{base}-tree", "secret": f"{base}-env"}


def _port_problems(field: str, port: int) -> list[FieldProblem]:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return [FieldProblem(field, f"port {port!r} is out of range", "use a TCP port from 1 to 65535")]
    return []


def _problems(
    ws_id: str, spec: WorkspaceSpec, env: dict[str, str], instance: str, image: str | None
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not DNS_LABEL.match(ws_id) or len(ws_id) > MAX_ID:
        problems.append(
            FieldProblem(
                "ws_id",
                f"{ws_id!r} cannot name Kubernetes objects: it must be a DNS-1123 label of at most {MAX_ID} characters",
                "use lowercase letters, digits and '-', starting and ending with a letter or digit",
            )
        )
    if len(instance) > 63 or not LABEL_VALUE.match(instance) or not instance:
        problems.append(
            FieldProblem(
                "instance",
                f"{instance!r} is not a Kubernetes label value",
                "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            )
        )
    if spec.dockerfile and not spec.image:
        problems.append(
            FieldProblem(
                "dockerfile",
                "the kubernetes runtime does not build images: a cluster pulls them from a registry",
                "build the Dockerfile, push it to a registry the cluster reaches, and set `image`",
            )
        )
    elif not image:
        problems.append(
            FieldProblem(
                "image", "no image to run the workspace in", "set `image` in the template or devcontainer.json"
            )
        )
    for i, port in enumerate(spec.forward_ports):
        problems += _port_problems(f"forward_ports[{i}]", port)
    seen_ports: dict[int, str] = {BRIDGE_PORT: BRIDGE_CONTAINER}
    seen_names: set[str] = set()
    for i, svc in enumerate(spec.services):
        where = f"services[{i}]"
        if svc.name == BRIDGE_CONTAINER or not DNS_LABEL.match(svc.name) or len(svc.name) > 63:
            problems.append(
                FieldProblem(
                    f"{where}.name",
                    f"{svc.name!r} cannot name a container: it must be a DNS-1123 label other than {BRIDGE_CONTAINER!r}",
                    "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                )
            )
        elif svc.name in seen_names:
            problems.append(
                FieldProblem(f"{where}.name", f"two services are named {svc.name!r}", "give each service its own name")
            )
        seen_names.add(svc.name)
        if not svc.command:
            problems.append(
                FieldProblem(f"{where}.command", "the command is empty", "give the program and its arguments")
            )
        cwd = PurePosixPath(svc.cwd)
        if cwd.is_absolute() or ".." in cwd.parts:
            problems.append(
                FieldProblem(
                    f"{where}.cwd", f"{svc.cwd!r} leaves the workspace's tree", "give a path relative to the tree"
                )
            )
        for name in svc.env:
            if not ENV_NAME.match(name):
                problems.append(
                    FieldProblem(
                        f"{where}.env.{name}", "not a valid variable name", "use letters, digits, '_', '-' or '.'"
                    )
                )
        if svc.port is not None:
            bad = _port_problems(f"{where}.port", svc.port)
            problems += bad
            if not bad and svc.port in seen_ports:
                # One Pod is one network namespace: two listeners on one port cannot both start.
                problems.append(
                    FieldProblem(
                        f"{where}.port",
                        f"port {svc.port} is already {seen_ports[svc.port]!r}'s in the same Pod",
                        "give each service (and the bridge, on 8471) its own port",
                    )
                )
            seen_ports.setdefault(svc.port, svc.name)
    for name in {**spec.env, **env}:
        if not ENV_NAME.match(name):
            problems.append(
                FieldProblem(f"env.{name}", "not a valid variable name", "use letters, digits, '_', '-' or '.'")
            )
    limits = spec.limits
    containers = 1 + len(spec.services)
    if limits.cpus is not None:
        if not isinstance(limits.cpus, int | float) or not math.isfinite(limits.cpus) or limits.cpus <= 0:
            problems.append(
                FieldProblem(
                    "limits.cpus", f"{limits.cpus!r} is not a CPU count", "give a positive number, e.g. 0.5 or 2"
                )
            )
        elif int(limits.cpus * 1000) // containers < 1:
            problems.append(
                FieldProblem(
                    "limits.cpus",
                    f"{limits.cpus} CPUs cannot be shared by {containers} containers (at least 1m each)",
                    f"give at least {containers / 1000:g} CPUs",
                )
            )
    for field, value, least in (("memory_mb", limits.memory_mb, MIN_MEMORY_MB), ("disk_mb", limits.disk_mb, 1)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(
                FieldProblem(f"limits.{field}", f"{value!r} is not a size in MB", "give a positive whole number of MB")
            )
        elif value // containers < least:
            problems.append(
                FieldProblem(
                    f"limits.{field}",
                    f"{value} MB cannot be shared by {containers} containers (at least {least} MB each)",
                    f"give at least {least * containers} MB",
                )
            )
    return problems


def _resources(spec: WorkspaceSpec) -> k8s.V1ResourceRequirements | None:
    """Each container's share of the workspace's limits. Requests equal limits (Guaranteed QoS)
    and the shares add up to no more than the workspace's figure, so the Pod as a whole keeps
    to it without the PodLevelResources feature gate, which not every cluster has."""
    limits = spec.limits
    containers = 1 + len(spec.services)
    quantities: dict[str, str] = {}
    if limits.cpus is not None:
        quantities["cpu"] = f"{int(limits.cpus * 1000) // containers}m"
    if limits.memory_mb is not None:
        quantities["memory"] = f"{limits.memory_mb // containers}Mi"
    if limits.disk_mb is not None:
        quantities["ephemeral-storage"] = f"{limits.disk_mb // containers}Mi"
    if not quantities:
        return None
    return k8s.V1ResourceRequirements(requests=dict(quantities), limits=dict(quantities))


def _exposed_ports(spec: WorkspaceSpec, ports: list[PortMap]) -> list[int]:
    found = {BRIDGE_PORT, *spec.forward_ports, *(p.inside for p in ports)}
    found.update(s.port for s in spec.services if s.port is not None)
    return sorted(found)


def build_manifests(
    ws_id: str,
    spec: WorkspaceSpec,
    env: dict[str, str],
    *,
    instance: str,
    image: str | None = None,
    bridge_image: str | None = None,
    bridge_args: tuple[str, ...] = (),
    ports: list[PortMap] | None = None,
    storage_class: str | None = None,
    default_disk_mb: int = DEFAULT_DISK_MB,
) -> Manifests:
    """The workspace's Pod, claim, Service and Secret. `image` runs the services when the spec
    names none; `bridge_image` (default: the services' image) must hold CodeForge, whose
    `codeforge bridge` serves /workspace; `bridge_args` are added to its command (--url,
    --project). Raises BadInput listing every problem at once."""
    image = spec.image or image
    problems = _problems(ws_id, spec, env, instance, image)
    for i, port in enumerate(p.inside for p in ports or []):
        problems += _port_problems(f"ports[{i}].inside", port)
    if problems:
        raise BadInput(f"workspace {ws_id!r} cannot be placed on Kubernetes", errors=problems)
    assert image is not None  # _problems reported its absence
    names = object_names(ws_id)
    labels = {LABEL_WORKSPACE: ws_id, LABEL_INSTANCE: instance}

    def meta(name: str) -> k8s.V1ObjectMeta:
        return k8s.V1ObjectMeta(name=name, labels=dict(labels))

    resources = _resources(spec)
    env_from = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=names["secret"]))]
    mounts = [k8s.V1VolumeMount(name="tree", mount_path=MOUNT)]
    bridge = k8s.V1Container(
        name=BRIDGE_CONTAINER,
        image=bridge_image or image,
        command=[
            "codeforge",
            "bridge",
            MOUNT,
            "--host",
            "0.0.0.0",
            "--port",
            str(BRIDGE_PORT),
            "--id",
            ws_id,
            *bridge_args,
        ],
        working_dir=MOUNT,
        ports=[k8s.V1ContainerPort(name="bridge", container_port=BRIDGE_PORT, protocol="TCP")],
        env_from=env_from,
        volume_mounts=mounts,
        resources=resources,
    )
    services = [
        k8s.V1Container(
            name=svc.name,
            image=image,
            command=list(svc.command),
            working_dir=str(PurePosixPath(MOUNT) / svc.cwd),
            env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(svc.env.items())] or None,
            env_from=env_from,
            ports=[k8s.V1ContainerPort(name=f"p{svc.port}", container_port=svc.port, protocol="TCP")]
            if svc.port is not None
            else None,
            volume_mounts=mounts,
            resources=resources,
        )
        for svc in spec.services
    ]
    pod = k8s.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=meta(names["pod"]),
        spec=k8s.V1PodSpec(
            containers=[bridge, *services],
            restart_policy="Always",
            # The workspace runs its user's code: it gets no credentials for the cluster's API.
            automount_service_account_token=False,
            volumes=[
                k8s.V1Volume(
                    name="tree",
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=names["claim"]),
                )
            ],
        ),
    )
    claim = k8s.V1PersistentVolumeClaim(
        api_version="v1",
        kind="PersistentVolumeClaim",
        metadata=meta(names["claim"]),
        spec=k8s.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.V1VolumeResourceRequirements(
                requests={"storage": f"{spec.limits.disk_mb or default_disk_mb}Mi"}
            ),
        ),
    )
    service = k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=meta(names["service"]),
        spec=k8s.V1ServiceSpec(
            type="ClusterIP",
            selector=dict(labels),
            ports=[
                k8s.V1ServicePort(name="bridge" if p == BRIDGE_PORT else f"p{p}", port=p, target_port=p, protocol="TCP")
                for p in _exposed_ports(spec, ports or [])
            ],
        ),
    )
    secret = k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=meta(names["secret"]),
        type="Opaque",
        string_data={**spec.env, **env},
    )
    return Manifests(pod=pod, claim=claim, service=service, secret=secret)


def parse_proc_net_tcp(text: str) -> list[int]:
    """Ports in LISTEN state in /proc/net/tcp and tcp6's format (what `listening` reads in the Pod)."""
    found: set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[3] != TCP_LISTEN:
            continue
        try:
            found.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return sorted(found)


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
        self._core: k8s.CoreV1Api | None = None

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
        return self._core

    def _call(self, what: str, call: Callable[[], T], *, gone_ok: bool = False) -> T | None:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404 and gone_ok:
                return None
            reason = f"{what}: the cluster answered {exc.status} {exc.reason}"
            if exc.status == 404:
                raise NotFound(reason, fix="check the workspace still exists (`workspaces.list`)") from exc
            if exc.status == 409:
                raise Conflict(reason, fix="delete the workspace's leftovers first (`workspaces.delete`)") from exc
            raise ExternalFailure(reason, fix=f"see `kubectl -n {self.namespace} get events`") from exc
        except Unavailable:
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
        self, ws_id: str, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap] | None = None
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
        )

    def create(self, ws_id: str, spec: WorkspaceSpec, tree: Path, env: dict[str, str]) -> RuntimeHandle:
        made = self.manifests(ws_id, spec, env)  # validates before anything is made
        api = self._api()
        ns, t = self.namespace, self.timeout
        self._call(
            "create the workspace's Secret", lambda: api.create_namespaced_secret(ns, made.secret, _request_timeout=t)
        )
        try:
            self._call(
                "create the workspace's claim",
                lambda: api.create_namespaced_persistent_volume_claim(ns, made.claim, _request_timeout=t),
            )
        except Exception:
            # Nothing is left made: the Secret goes with the failed claim.
            self._call(
                "remove the Secret",
                lambda: api.delete_namespaced_secret(object_names(ws_id)["secret"], ns),
                gone_ok=True,
            )
            raise
        # The tree's files are not copied into the claim here: the claim starts empty, and the
        # service fills it (through the bridge's sync) once the Pod runs.
        return RuntimeHandle(
            self.name, object_names(ws_id)["pod"], {"ws_id": ws_id, "namespace": ns, "tree": str(tree)}
        )

    def _where(self, handle: RuntimeHandle) -> tuple[k8s.CoreV1Api, str, dict[str, str]]:
        ws_id = str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX))
        return self._api(), str(handle.data.get("namespace") or self.namespace), object_names(ws_id)

    def start(self, handle: RuntimeHandle, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap]) -> None:
        api, ns, names = self._where(handle)
        made = self.manifests(str(handle.data.get("ws_id") or handle.ref.removeprefix(PREFIX)), spec, env, ports)
        t = self.timeout
        self._call(
            "update the workspace's Secret",
            lambda: api.replace_namespaced_secret(names["secret"], ns, made.secret, _request_timeout=t),
        )
        if (
            self._call(
                "read the Service",
                lambda: api.read_namespaced_service(names["service"], ns, _request_timeout=t),
                gone_ok=True,
            )
            is None
        ):
            self._call(
                "create the Service", lambda: api.create_namespaced_service(ns, made.service, _request_timeout=t)
            )
        if (
            self._call(
                "read the Pod", lambda: api.read_namespaced_pod(names["pod"], ns, _request_timeout=t), gone_ok=True
            )
            is None
        ):
            self._call("create the Pod", lambda: api.create_namespaced_pod(ns, made.pod, _request_timeout=t))

    def stop(self, handle: RuntimeHandle) -> None:
        api, ns, names = self._where(handle)
        t = self.timeout
        self._call(
            "delete the Pod", lambda: api.delete_namespaced_pod(names["pod"], ns, _request_timeout=t), gone_ok=True
        )
        self._call(
            "delete the Service",
            lambda: api.delete_namespaced_service(names["service"], ns, _request_timeout=t),
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
        from kubernetes.stream import stream  # the websocket client, only when a command runs

        api, ns, names = self._where(handle)

        def run() -> ExecResult:
            resp: Any = stream(
                api.connect_get_namespaced_pod_exec,
                names["pod"],
                ns,
                container=BRIDGE_CONTAINER,
                command=list(argv),
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
                _preload_content=False,
            )
            resp.run_forever(timeout=timeout_s)
            output = resp.read_all() if hasattr(resp, "read_all") else resp.read_stdout() + resp.read_stderr()
            if resp.is_open():
                resp.close()
                return ExecResult(124, f"{output}\n(timed out after {timeout_s:g} s)")
            return ExecResult(int(resp.returncode or 0), output)

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
        return parse_proc_net_tcp(done.output)

    def checkpoint(self, handle: RuntimeHandle, into: Path) -> str:
        return (
            "not checkpointed: the kubernetes runtime does not checkpoint processes "
            "(the kubelet's checkpoint API makes archives it cannot restore from)"
        )

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
