"""Jobs as operations (`jobs.get`, `jobs.list`, `jobs.cancel`), and the cleanup of jobs a
stopped process of this replica left running."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _fail_interrupted(rt: Runtime) -> Sequence[str]:
    # Only this replica's jobs (by instance id): another replica's are still running.
    failed = rt.jobs.recover(rt.settings.resolved_instance_id)
    return [f"{failed} job(s) marked failed"] if failed else []


CAPABILITY = Capability(
    name="jobs",
    title="Jobs",
    catalog=("codeforge.catalog.jobs",),
    models=("models",),
    services=("service",),
    cleanup=(CrashCleanup("jobs interrupted by a stop", _fail_interrupted),),
)
