"""The crash cleanup (docs/deployments.md, "Crash safety"), run once when the platform starts:
a rollout a killed process left half-done is ended as a halted one is (the release it was
rolling out rolled back, the previous release kept serving), and instances no release lists
(started by a process killed before it recorded them) are stopped with their trees.

It runs at start only: a periodic sweep could take an instance a live rollout is starting.
Several replicas sharing one database each run their own instances (the local runtime's are
its host's processes), so a replica restarting while another rolls out would end that
rollout: run rollouts on one replica (docs/deployments.md says so)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from sqlalchemy import select

from codeforge.platform.deployments.instances import Instance, runtime_for, stop_instance
from codeforge.platform.deployments.models import Deployment, Release
from codeforge.platform.deployments.traffic import publish_split, register_db
from codeforge.platform.manifest import Runtime
from codeforge.platform.workspaces.access import file_store
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = ["sweep"]

log = logging.getLogger("codeforge.deployments")


def sweep(rt: Runtime) -> list[str]:
    register_db(rt.settings, rt.db)
    done: list[str] = []
    routes: list[tuple[str, str, list[str], str, str, list[Instance]]] = []
    with rt.db.session() as s:
        for dep in s.scalars(select(Deployment).where(Deployment.state == "deploying")):
            for rel in s.scalars(select(Release).where(Release.deployment_id == dep.id, Release.state == "starting")):
                for value in rel.instances or []:
                    stop_instance(rt.settings, Instance.from_json(value))
                rel.instances, rel.state, rel.traffic = [], "rolled-back", 0.0
                rel.error = "the platform stopped during its rollout"
                done.append(f"deployment {dep.name}: v{rel.number} rolled back (interrupted rollout)")
            current = s.get(Release, dep.current_id) if dep.current_id else None
            if current is not None:
                current.state, current.traffic = "live", 100.0
                conf = dep.settings or {}
                instances = [Instance.from_json(v) for v in current.instances or []]
                routes.append(
                    (dep.project_id, dep.name, list(conf.get("hosts") or []), str(conf.get("health_path", "/")),
                     current.id, instances)
                )  # fmt: skip
            dep.state = "rolled-back" if current is not None else "failed"
            dep.message = "the platform stopped during the rollout; the previous release kept serving"
            dep.cancel_requested = dep.promote_requested = False
        known = {str(v["id"]) for r in s.scalars(select(Release)) for v in r.instances or []}
    # The stored edge route still splits traffic with the interrupted release: all of it back
    # on the previous one (the nodes take the stored routes when their supervisor starts them).
    for project_id, name, hosts, health_path, current_id, instances in routes:
        try:
            publish_split(
                rt.settings, rt.cipher, project_id, name, hosts, [(current_id, instances, 100.0)], health_path,
                wait=False,
            )  # fmt: skip
        except Exception:
            log.exception("could not route an interrupted deployment back", extra={"deployment": name})
    for name in ("local", "docker"):
        try:
            runtime = runtime_for(rt.settings, name)
            handles = runtime.owned()
        except Unavailable:
            continue
        except Exception:
            log.exception("could not list the %s runtime's deployment instances", name)
            continue
        for handle in handles:
            if handle.ref in known:
                continue
            with contextlib.suppress(Exception):
                runtime.delete(handle)
            tree = file_store(rt.settings).tree(handle.ref)
            if tree.exists():
                with contextlib.suppress(Exception):
                    file_store(rt.settings).delete(Path(tree))
            done.append(f"instance {handle.ref} no release lists")
    return done
