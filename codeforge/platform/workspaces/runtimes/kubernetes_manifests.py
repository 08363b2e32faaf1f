"""Kubernetes manifests of a workspace (docs/workspaces.md, "Runtimes"), as the official
client's models and without I/O, so the tests validate them against those models: one Pod (the
bridge and one container per service, sharing the Pod's network), a PersistentVolumeClaim for
the tree at /workspace, a Secret for the environment (never written into the Pod), one
ClusterIP Service for the bridge, the forwarded ports and the services' ports, and one NodePort
Service per host port (PortMap), so each is reachable from outside the cluster.

The Pod made when a workspace is created also has a `setup` init container (the services'
image, the tree, the environment, the workspace's whole limits) that waits for the platform:
the tree is copied into the claim through it and the post-create commands run in it, so the
bridge and the services start on a full tree, after those commands."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from kubernetes import client as k8s

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.workspaces.network import remap_env
from codeforge.platform.workspaces.records import PortMap, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE

__all__ = [
    "BRIDGE_CONTAINER",
    "BRIDGE_PORT",
    "LABEL_HOST_PORT",
    "MAX_ID",
    "MOUNT",
    "NODE_PORT_RANGE",
    "PREFIX",
    "READY_FILE",
    "SETUP_CONTAINER",
    "SETUP_SCRIPT",
    "TAR_COMMAND",
    "Manifests",
    "build_manifests",
    "copy_command",
    "node_port_name",
    "object_names",
    "pod_env",
]

BRIDGE_CONTAINER = "bridge"
BRIDGE_PORT = 8471  # `codeforge bridge`'s default port
MOUNT = "/workspace"
PREFIX = "cf-ws-"
# The longest suffix added to the prefixed id is a NodePort Service's "-p65535": every name stays
# a DNS-1123 label (63).
MAX_ID = 63 - len(PREFIX) - len("-p65535")
SETUP_CONTAINER = "setup"
SETUP_DIR = "/codeforge-setup"  # an emptyDir of the Pod's: outside the tree, gone with the Pod
READY_FILE = f"{SETUP_DIR}/ready"
# What `kubectl cp` runs: the tree arrives as a tar on stdin, extracted into the claim.
TAR_COMMAND = ("tar", "xf", "-", "-C", MOUNT)


def copy_command(size_bytes: int) -> tuple[str, ...]:
    """TAR_COMMAND fed exactly the archive's bytes. The exec API's v4 protocol (clusters before
    1.30, or with v5 turned off) cannot say that stdin ended; GNU tar stops at the archive's end
    marker anyway, busybox's tar reads on until EOF and would never finish (the tests show
    both): `head -c` ends the input at the archive's size on either protocol."""
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
        raise ValueError(f"not a size: {size_bytes!r}")
    return ("sh", "-c", f"head -c {size_bytes} | {' '.join(TAR_COMMAND)}")


# The API server's default --service-node-port-range; a cluster may set another (the API does
# not say which), so the runtime takes it as a setting.
NODE_PORT_RANGE = (30000, 32767)
# On each NodePort Service: the host port (PortMap.host) it was made for.
LABEL_HOST_PORT = "dev.codeforge.host-port"
# The setup container's command: wait until the platform says the tree is in and the post-create
# commands ran (the marker in an emptyDir, so it outlives a restart of the Pod's containers on
# its node and never appears in the tree). No deadline: post-create commands run inside this
# container, and its end would kill them; a platform that died leaves the Pod to the crash cleanup.
SETUP_SCRIPT = f"while [ ! -e {READY_FILE} ]; do sleep 0.2 2>/dev/null || sleep 1; done"
MIN_MEMORY_MB = 16  # per container: below this, runtimes refuse to start a container at all
DEFAULT_DISK_MB = 10 * 1024  # the claim's size when the spec sets no disk limit

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z0-9]+$")  # a Secret's key, which envFrom turns into a variable


SERVICE_URL = re.compile(r"^CODEFORGE_SERVICE_([A-Za-z0-9_]+)_URL$")


def _env_key(service: str) -> str:
    return service.upper().replace("-", "_")  # as lifecycle.service_env names them


def pod_env(env: dict[str, str], spec: WorkspaceSpec, ports: list[PortMap] | None = None) -> dict[str, str]:
    """`env` as seen inside the Pod. The platform names the workspace's services by their host
    ports on the host's loopback (CODEFORGE_SERVICE_<NAME>_URL=http://127.0.0.1:<host port>),
    which inside the Pod is the Pod's own loopback, where the services listen on their inside
    ports (the containers share one network namespace): each such URL names
    http://localhost:<inside port>, and every other value naming a host port (a clone's
    remapped variables) names its inside port. Without `ports` (at create, before they are
    given) the inside ports are the spec's: each service's port, and `port-<n>` for a
    forwarded port n."""
    inside: dict[str, int] = {_env_key(f"port-{p}"): p for p in spec.forward_ports}
    inside.update({_env_key(s.name): s.port for s in spec.services if s.port is not None})
    inside.update({_env_key(p.service): p.inside for p in ports or []})
    out = remap_env(env, {p.host: p.inside for p in ports or [] if p.host != p.inside})
    for name in env:
        found = SERVICE_URL.match(name)
        if found and found[1].upper() in inside:
            out[name] = f"http://localhost:{inside[found[1].upper()]}"
    return out


@dataclass(frozen=True)
class Manifests:
    pod: k8s.V1Pod
    claim: k8s.V1PersistentVolumeClaim
    service: k8s.V1Service
    secret: k8s.V1Secret
    node_ports: tuple[k8s.V1Service, ...] = ()
    # Host ports outside the cluster's NodePort range: their Service gets a node port the
    # cluster picks, not the host port (each with the sentence saying so).
    not_host_ports: tuple[str, ...] = ()


def object_names(ws_id: str) -> dict[str, str]:
    """The names of what a workspace is made of, derived from its id (which must be a DNS-1123 label)."""
    base = PREFIX + ws_id
    return {"pod": base, "service": base, "claim": f"{base}-tree", "secret": f"{base}-env"}


def node_port_name(ws_id: str, inside: int) -> str:
    """The NodePort Service exposing the workspace's port `inside` on the cluster's nodes."""
    return f"{PREFIX}{ws_id}-p{inside}"


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


def _full_resources(spec: WorkspaceSpec) -> k8s.V1ResourceRequirements | None:
    """The setup container's: the workspace's whole limits. An init container runs before the
    others, so the Pod's effective request is the larger of its and the others' sum: still the
    workspace's figure."""
    limits = spec.limits
    quantities: dict[str, str] = {}
    if limits.cpus is not None:
        quantities["cpu"] = f"{int(limits.cpus * 1000)}m"
    if limits.memory_mb is not None:
        quantities["memory"] = f"{limits.memory_mb}Mi"
    if limits.disk_mb is not None:
        quantities["ephemeral-storage"] = f"{limits.disk_mb}Mi"
    if not quantities:
        return None
    return k8s.V1ResourceRequirements(requests=dict(quantities), limits=dict(quantities))


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
    setup: bool = False,
    node_port_range: tuple[int, int] = NODE_PORT_RANGE,
) -> Manifests:
    """The workspace's Pod, claim, Service, Secret and one NodePort Service per PortMap.
    `image` runs the services when the spec names none; `bridge_image` (default: the
    services' image) must hold CodeForge, whose `codeforge bridge` serves /workspace;
    `bridge_args` are added to its command (--url, --project). `setup`: the Pod has the
    `setup` init container, which holds the others back until READY_FILE is made (the Pod
    made when the workspace is created; one made again at a later start has none).
    A PortMap's host port is its Service's nodePort when inside `node_port_range`; else the
    cluster picks one and `not_host_ports` says so. Raises BadInput listing every problem."""
    image = spec.image or image
    problems = _problems(ws_id, spec, env, instance, image)
    for i, port in enumerate(p.inside for p in ports or []):
        problems += _port_problems(f"ports[{i}].inside", port)
    for i, port in enumerate(p.host for p in ports or []):
        problems += _port_problems(f"ports[{i}].host", port)
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
            env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(pod_env(svc.env, spec, ports).items())] or None,
            env_from=env_from,
            ports=[k8s.V1ContainerPort(name=f"p{svc.port}", container_port=svc.port, protocol="TCP")]
            if svc.port is not None
            else None,
            volume_mounts=mounts,
            resources=resources,
        )
        for svc in spec.services
    ]
    volumes = [
        k8s.V1Volume(
            name="tree",
            persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=names["claim"]),
        )
    ]
    init_containers = None
    if setup:
        volumes.append(k8s.V1Volume(name="setup", empty_dir=k8s.V1EmptyDirVolumeSource()))
        init_containers = [
            k8s.V1Container(
                name=SETUP_CONTAINER,
                image=image,
                command=["sh", "-c", SETUP_SCRIPT],
                working_dir=MOUNT,
                env_from=env_from,
                volume_mounts=[*mounts, k8s.V1VolumeMount(name="setup", mount_path=SETUP_DIR)],
                resources=_full_resources(spec),
            )
        ]
    pod = k8s.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=meta(names["pod"]),
        spec=k8s.V1PodSpec(
            init_containers=init_containers,
            containers=[bridge, *services],
            restart_policy="Always",
            # The workspace runs its user's code: it gets no credentials for the cluster's API.
            automount_service_account_token=False,
            volumes=volumes,
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
        string_data=pod_env({**spec.env, **env}, spec, ports),
    )
    low, high = node_port_range
    node_ports: list[k8s.V1Service] = []
    not_host_ports: list[str] = []
    for p in sorted({p.inside: p for p in ports or []}.values(), key=lambda p: p.inside):
        in_range = low <= p.host <= high
        if not in_range:
            not_host_ports.append(
                f"host port {p.host} ({p.service}, port {p.inside} inside) is outside the cluster's NodePort "
                f"range {low}-{high}: the cluster picks the node port (see the Service {node_port_name(ws_id, p.inside)})"
            )
        node_ports.append(
            k8s.V1Service(
                api_version="v1",
                kind="Service",
                metadata=k8s.V1ObjectMeta(
                    name=node_port_name(ws_id, p.inside), labels={**labels, LABEL_HOST_PORT: str(p.host)}
                ),
                spec=k8s.V1ServiceSpec(
                    type="NodePort",
                    selector=dict(labels),
                    ports=[
                        k8s.V1ServicePort(
                            name=f"p{p.inside}",
                            port=p.inside,
                            target_port=p.inside,
                            node_port=p.host if in_range else None,
                            protocol="TCP",
                        )
                    ],
                ),
            )
        )
    return Manifests(
        pod=pod,
        claim=claim,
        service=service,
        secret=secret,
        node_ports=tuple(node_ports),
        not_host_ports=tuple(not_host_ports),
    )
