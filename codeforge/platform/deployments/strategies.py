"""How traffic moves to a new release (docs/deployments.md, "Strategies"). Each strategy is a
function of the rollout (rollout.py), the new release's id and the old one's; it raises
`Halt` (through the rollout's `start`, `watch` and `check`) to stop, and the rollout restores
the old release. Regions go in their order: a region's instances are started (and, rolling,
replaced) before the next region's, so a failure halts before later regions are touched.

- rolling: per region, `batch` new instances started and healthy, put in the route beside the
  old ones (every instance the same weight), then as many old ones taken out and stopped;
  each batch watched for `step_s`.
- blue-green: the whole new set started (every region), then all traffic switched to it in
  one edge publish; the old set keeps running as the standby `switch` goes back to.
- canary: the whole new set started, then its share raised through `canary_steps` (10 %,
  50 %, 100 % by default: weighted backends), each step watched for `step_s`; `promote`
  jumps to 100 %. The old set is stopped once the new one has all traffic."""

from __future__ import annotations

from collections.abc import Callable

from codeforge.platform.deployments.rollout import Rollout

__all__ = ["STRATEGIES", "blue_green", "canary", "rolling"]


def rolling(r: Rollout, new: str, old: str | None) -> None:
    batch = max(1, int(r.conf.get("batch", 1)))
    step_s = float(r.conf.get("step_s", 0.0))
    r.split[new] = ([], 0.0)
    total = len(r.regions) * r.per_region
    done = 0
    for region in r.regions:
        old_here = [i for i in (r.split[old][0] if old else []) if i.region == region]
        todo = r.per_region
        while todo > 0:
            k = min(batch, todo)
            r.progress(0.05 + 0.9 * done / total, f"region {region or 'default'}: starting {k} new instance(s)")
            started = r.start(new, region, k)
            r.split[new] = (r.split[new][0] + started, 0.0)
            r.equal_split()
            r.publish()
            if old and old_here:
                leaving, old_here = old_here[:k], old_here[k:]
                r.split[old] = ([i for i in r.split[old][0] if i not in leaving], 0.0)
                r.equal_split()
                r.publish()
                r.stop(old, leaving)
            r.watch(new, step_s)
            todo -= k
            done += k
        if old and old_here:  # the old release had more instances here than the new one runs
            r.split[old] = ([i for i in r.split[old][0] if i not in old_here], 0.0)
            r.equal_split()
            r.publish()
            r.stop(old, old_here)
    if old and r.split[old][0]:  # instances in regions no longer deployed to
        leftover = r.split[old][0]
        r.split[old] = ([], 0.0)
        r.equal_split()
        r.publish()
        r.stop(old, leftover)


def _start_all(r: Rollout, new: str) -> None:
    for n, region in enumerate(r.regions):
        r.progress(
            0.05 + 0.45 * n / len(r.regions), f"region {region or 'default'}: starting {r.per_region} instance(s)"
        )
        r.start(new, region, r.per_region)


def blue_green(r: Rollout, new: str, old: str | None) -> None:
    _start_all(r, new)
    r.check()
    r.progress(0.6, "switching all traffic to the new release")
    kept = r.split.get(old, ([], 0.0))[0] if old else []
    r.split = {new: (r.instances(new), 100.0)}
    r.publish()
    if old:
        r.set_release(old, traffic=0.0, instances=[i.as_json() for i in kept])
    r.watch(new, float(r.conf.get("step_s", 0.0)))


def canary(r: Rollout, new: str, old: str | None) -> None:
    _start_all(r, new)
    steps = [int(s) for s in r.conf.get("canary_steps") or [100]] if old else [100]
    step_s = float(r.conf.get("step_s", 0.0))
    old_insts = r.split[old][0] if old else []
    for n, percent in enumerate(steps):
        r.progress(0.5 + 0.45 * n / len(steps), f"canary at {percent}%")
        r.split = {new: (r.instances(new), float(percent))}
        if old and percent < 100:
            r.split[old] = (old_insts, float(100 - percent))
        r.publish()
        if r.watch(new, step_s) and percent < 100:
            r.progress(0.95, "promoted: all traffic to the new release")
            r.split = {new: (r.instances(new), 100.0)}
            r.publish()
            r.watch(new, 0.0)
            break


STRATEGIES: dict[str, Callable[[Rollout, str, str | None], None]] = {
    "rolling": rolling,
    "blue-green": blue_green,
    "canary": canary,
}
