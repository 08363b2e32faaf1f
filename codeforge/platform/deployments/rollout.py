"""The rollout job (docs/deployments.md, "Rollout"): a new release's instances started region
by region in order, traffic moved to them by the deployment's strategy (strategies.py), the
new release watched (monitor.py) and rolled back when it fails its health checks, passes a
threshold or the rollout is cancelled. A halted rollout leaves the previous release serving
all traffic with its full set of instances, and nothing of the new one running.

Every state change is written at once through a side unit of work (the operation's own
session only reads), so `deployments.cancel`, `show` and another replica see it as it goes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from codeforge.catalog.errors import CodeForgeError, ExternalFailure
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import new_id
from codeforge.platform.deployments import monitor
from codeforge.platform.deployments.instances import (
    Instance,
    InstanceSpec,
    health_check,
    start_instance,
    stop_instance,
)
from codeforge.platform.deployments.models import Deployment, Release
from codeforge.platform.deployments.releases import instance_spec
from codeforge.platform.deployments.traffic import publish_split, route_name, withdraw_route
from codeforge.platform.jobs.runner import JobCancelled, JobReporter
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces.access import Side

__all__ = ["Halt", "Rollout"]

log = logging.getLogger("codeforge.deployments")


class Halt(Exception):
    """Stop the rollout and restore the previous release. `state` is what the new release
    becomes: rolled-back (unhealthy, over a threshold) or cancelled."""

    def __init__(self, reason: str, state: str = "rolled-back") -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state


class Rollout:
    def __init__(
        self, side: Side, settings: Settings, cipher: Cipher, project_id: str, dep_id: str,
        job: JobReporter | None = None,
    ) -> None:  # fmt: skip
        self.side = side
        self.settings = settings
        self.cipher = cipher
        self.project_id = project_id
        self.dep_id = dep_id
        self.job = job
        dep = self.deployment()
        self.name = dep.name
        self.conf: dict[str, Any] = dict(dep.settings or {})
        self.regions: list[str] = list(self.conf.get("regions") or []) or [""]
        self.per_region = int(self.conf.get("instances", 1))
        self.hosts: list[str] = list(self.conf.get("hosts") or [])
        # release id -> (its instances in traffic or ready, its share in percent)
        self.split: dict[str, tuple[list[Instance], float]] = {}
        self.published = False
        self.fraction = 0.0

    # -- state ------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.side.session() as s:
            yield s

    def deployment(self) -> Deployment:
        with self.session() as s:
            dep = s.get(Deployment, self.dep_id)
            assert dep is not None
            return dep

    def release(self, rid: str) -> Release:
        with self.session() as s:
            rel = s.get(Release, rid)
            assert rel is not None
            return rel

    def set_deployment(self, **values: Any) -> None:
        with self.session() as s:
            dep = s.get(Deployment, self.dep_id)
            assert dep is not None
            for k, v in values.items():
                setattr(dep, k, v)

    def set_release(self, rid: str, **values: Any) -> None:
        with self.session() as s:
            rel = s.get(Release, rid)
            assert rel is not None
            for k, v in values.items():
                setattr(rel, k, v)

    def instances(self, rid: str) -> list[Instance]:
        return [Instance.from_json(v) for v in self.release(rid).instances or []]

    def _record(self, rid: str, instances: list[Instance]) -> None:
        self.set_release(rid, instances=[i.as_json() for i in instances])

    def progress(self, fraction: float, message: str) -> None:
        self.fraction = max(self.fraction, fraction)
        if self.job:
            self.job.progress(self.fraction, message)
            self.job.log(message)
        log.info(message, extra={"deployment": self.name})

    # -- cancel and promote -------------------------------------------------------------------

    def check(self) -> None:
        if self.job is not None and self.job.cancelled:
            raise Halt("cancelled", "cancelled")
        if self.deployment().cancel_requested:
            raise Halt("cancelled by deployments.cancel", "cancelled")

    def promoted(self) -> bool:
        return bool(self.deployment().promote_requested)

    # -- instances ----------------------------------------------------------------------------

    def spec(self, rid: str) -> InstanceSpec:
        return instance_spec(self.settings, self.cipher, self.release(rid), self.conf)

    def start(self, rid: str, region: str, count: int, *, cancellable: bool = True) -> list[Instance]:
        """Start `count` healthy instances of release `rid` in `region`; each is recorded on the
        release as soon as it runs, so a failure later stops it too."""
        spec = self.spec(rid)
        made: list[Instance] = []
        for _ in range(count):
            if cancellable:
                self.check()
            inst_id = f"dep-{new_id()[:20]}"
            try:
                inst = start_instance(self.settings, spec, inst_id, region)
            except CodeForgeError as exc:
                raise Halt(f"an instance of v{self.release(rid).number} failed to start: {exc.detail}") from exc
            made.append(inst)
            self._record(rid, [*self.instances(rid), inst])
        return made

    def healthy(self, rid: str) -> list[Instance]:
        """Release `rid`'s recorded instances that answer their health check now; the others
        (died since, or stopped behind the platform's back) are removed and forgotten."""
        path = str(self.conf.get("health_path", "/"))
        instances = self.instances(rid)
        dead = [i for i in instances if health_check(i.address, path, 1.0) is not None]
        if dead:
            self.stop(rid, dead)
        return [i for i in instances if i not in dead]

    def stop(self, rid: str, instances: list[Instance]) -> None:
        gone = {i.id for i in instances}
        for inst in instances:
            stop_instance(self.settings, inst)
        self._record(rid, [i for i in self.instances(rid) if i.id not in gone])

    # -- traffic ------------------------------------------------------------------------------

    def publish(self) -> None:
        split = [(rid, insts, share) for rid, (insts, share) in self.split.items()]
        publish_split(
            self.settings, self.cipher, self.project_id, self.name, self.hosts, split,
            str(self.conf.get("health_path", "/")),
        )  # fmt: skip
        self.published = True
        for rid, (insts, share) in self.split.items():
            self.set_release(rid, traffic=share if insts else 0.0)

    def equal_split(self) -> None:
        """Every instance of every release in the split the same weight (rolling)."""
        total = sum(len(insts) for insts, _ in self.split.values()) or 1
        self.split = {rid: (insts, 100.0 * len(insts) / total) for rid, (insts, _) in self.split.items()}

    def watch(self, rid: str, seconds: float, poll_s: float = 0.5) -> bool:
        """Watch release `rid` for `seconds`; Halt when it passes a threshold or the rollout is
        cancelled. True when `promote` cut the watch short."""
        deadline = time.monotonic() + seconds
        while True:
            self.check()
            health = next(iter(monitor.read_health(self.settings, self.project_id, route_name(self.name), [rid])), None)
            verdict = monitor.judge(
                health, float(self.conf.get("max_error_rate", 5.0)), self.conf.get("max_p99_ms"),
                int(self.conf.get("min_requests", 20)),
            )  # fmt: skip
            if verdict.bad:
                raise Halt(f"v{self.release(rid).number}: {verdict.reason}")
            if self.promoted():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or poll_s)

    # -- the rollout ----------------------------------------------------------------------------

    def run(self, new_id_: str, old_id: str | None, strategy: Callable[[Rollout, str, str | None], None]) -> str:
        """Roll out `new_id_` over `old_id`; returns the message the deployment keeps. A halt
        restores the old release and raises: JobCancelled when cancelled, else ExternalFailure."""
        self.set_deployment(state="deploying", cancel_requested=False, promote_requested=False, message="")
        if old_id:
            self.split[old_id] = (self.instances(old_id), 100.0)
        try:
            strategy(self, new_id_, old_id)
        except Halt as halt:
            self.restore(new_id_, old_id, halt.reason, halt.state)
            if halt.state == "cancelled":
                raise JobCancelled() from None
            raise ExternalFailure(
                f"deployment {self.name!r} rolled back: {halt.reason}",
                fix="see `deployments show` and the instance's log; fix the release and deploy again",
            ) from None
        except BaseException as exc:
            reason = exc.detail if isinstance(exc, CodeForgeError) else f"{type(exc).__name__}: {exc}"
            self.restore(new_id_, old_id, reason, "cancelled" if isinstance(exc, JobCancelled) else "rolled-back")
            raise
        return self.finish(new_id_, old_id)

    def finish(self, new: str, old: str | None) -> str:
        """The new release serves all traffic: the old one is kept as blue-green's standby,
        or retired; an older standby is retired."""
        dep = self.deployment()
        strategy = str(self.conf.get("strategy", "rolling"))
        number = self.release(new).number
        if old:
            if strategy == "blue-green":
                self.set_release(old, state="standby", traffic=0.0)
            else:
                self.stop(old, self.instances(old))
                self.set_release(old, state="retired", traffic=0.0)
        keep = old if strategy == "blue-green" else None
        if dep.standby_id and dep.standby_id not in (keep, new):
            self.stop(dep.standby_id, self.instances(dep.standby_id))
            self.set_release(dep.standby_id, state="retired", traffic=0.0)
        self.set_release(new, state="live", traffic=100.0)
        message = f"v{number} is live ({strategy})"
        self.set_deployment(state="live", current_id=new, standby_id=keep, message=message)
        self.progress(1.0, message)
        return message

    def restore(self, new: str, old: str | None, reason: str, state: str) -> None:
        """Put all traffic back on `old` with its full set of instances (started again where a
        rolling update had stopped some), then stop everything of `new`. Not cancellable."""
        self.progress(self.fraction, f"halting: {reason}; restoring the previous release")
        problems: list[str] = []
        if old:
            try:
                have = self.healthy(old)
                for region in self.regions:
                    missing = self.per_region - sum(1 for i in have if i.region == region)
                    if missing > 0:
                        self.start(old, region, missing, cancellable=False)
                self.split = {old: (self.instances(old), 100.0)}
                self.publish()
            except Exception as exc:  # said in the deployment's message; the new release goes anyway
                problems.append(f"restoring v{self.release(old).number} failed: {exc}")
                log.exception("restoring the previous release failed", extra={"deployment": self.name})
        elif self.published:
            try:
                withdraw_route(self.settings, self.project_id, self.name)
            except Exception as exc:
                problems.append(f"withdrawing the route failed: {exc}")
        with contextlib.suppress(Exception):
            self.stop(new, self.instances(new))
        self.set_release(new, state=state, traffic=0.0, error=reason)
        if old:
            self.set_release(old, state="live", traffic=100.0)
        dep_state = "cancelled" if state == "cancelled" else ("rolled-back" if old else "failed")
        message = f"v{self.release(new).number} {state}: {reason}" + "".join(f"; {p}" for p in problems)
        self.set_deployment(
            state=dep_state if old or state != "cancelled" else "cancelled", current_id=old, message=message,
            cancel_requested=False, promote_requested=False,
        )  # fmt: skip


def roll_back(r: Rollout, target: str) -> tuple[str, float]:
    """All traffic onto release `target` in one publish: at once where its instances still run
    (blue-green's standby), else after they are started and healthy. The release it replaces
    is kept as the standby (blue-green) or stopped. Returns the message and the seconds from
    the publish's start to its end (traffic on the target on every node)."""
    dep = r.deployment()
    current = dep.current_id
    number = r.release(target).number
    before = {i.id for i in r.instances(target)}
    try:
        have = r.healthy(target)
        for region in r.regions:
            missing = r.per_region - sum(1 for i in have if i.region == region)
            if missing > 0:
                r.start(target, region, missing, cancellable=False)
    except Halt as halt:
        r.stop(target, [i for i in r.instances(target) if i.id not in before])
        raise ExternalFailure(
            f"cannot roll back to v{number}: {halt.reason}", fix="roll back to another release, or deploy a fixed one"
        ) from None
    r.split = {target: (r.instances(target), 100.0)}
    started = time.monotonic()
    r.publish()
    switch_s = time.monotonic() - started
    standby: str | None = None
    if current and current != target:
        if r.conf.get("strategy") == "blue-green":
            r.set_release(current, state="standby", traffic=0.0)
            standby = current
        else:
            r.stop(current, r.instances(current))
            r.set_release(current, state="rolled-back", traffic=0.0)
    if dep.standby_id and dep.standby_id not in (standby, target):
        r.stop(dep.standby_id, r.instances(dep.standby_id))
        r.set_release(dep.standby_id, state="retired", traffic=0.0)
    r.set_release(target, state="live", traffic=100.0, error="")
    message = f"rolled back to v{number}"
    r.set_deployment(state="live", current_id=target, standby_id=standby, message=message)
    return message, switch_s
