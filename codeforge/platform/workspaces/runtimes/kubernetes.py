"""The Kubernetes runtime (docs/workspaces.md, "Runtimes"): a workspace is one Pod (the bridge
and one container per service, sharing the Pod's network, so services reach each other on
localhost as they do locally), a PersistentVolumeClaim holding the tree at /workspace, a Secret
holding the workspace's environment (it may carry the bridge's token and other secrets, so it
is not written into the Pod's manifest), and one ClusterIP Service exposing the bridge, the
forwarded ports and the services' ports.

Manifests are the official client's models (`kubernetes_manifests.py`, no I/O, validated by the
tests against those models); `KubernetesRuntime` applies them with `CoreV1Api` where a cluster is
configured (a kubeconfig, or the Pod's service account in a cluster). Everything it makes
carries LABEL_WORKSPACE and LABEL_INSTANCE, so `owned()` finds it for the crash cleanup."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from codeforge.catalog.errors import Conflict, ExternalFailure, NotFound
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable
from codeforge.platform.workspaces.runtimes.kubernetes_manifests import (
    BRIDGE_CONTAINER,
    PREFIX,
    Manifests,
    build_manifests,
    object_names,
)
from codeforge.platform.workspaces.runtimes.proc_net import listening_ports

__all__ = ["KubernetesRuntime"]

T = TypeVar("T")


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
        return listening_ports(done.output)

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
