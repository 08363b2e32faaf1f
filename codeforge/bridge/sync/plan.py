"""The initial sync's plan, made by the local half from both trees and both records.

For each path: `local` (this side now), `remote` (the workspace now), `base_l`/`base_r` (the
last synced hash each side recorded). Equal content is only recorded (`agree`), never sent,
which is how a restarted sync skips everything that arrived before. Otherwise:

| local vs its base | remote vs its base | action |
| --- | --- | --- |
| changed (or new) | unchanged | send it (`prev` = the base, which the workspace still holds) |
| unchanged | changed (or new) | ask for it (`want`) |
| changed | changed | send it: the workspace sees `prev` differ and keeps both versions |
| unchanged | deleted | delete it here (only if both records know the path) |
| deleted | unchanged | delete it there (only if both records know the path) |
| deleted / changed | changed / deleted | the changed one wins, on both sides |

A delete and a create of the same content on one side is a rename, replayed as a move.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from codeforge.bridge.sync import apply
from codeforge.bridge.sync.paths import PathRefused, check_rel
from codeforge.bridge.sync.peer import Held, Peer
from codeforge.bridge.sync.protocol import Message, decode_entries, encode
from codeforge.bridge.sync.tree import Entry, hash_missing

__all__ = ["Plan", "Remote", "make_plan", "read_manifest"]

WANT_BATCH = 2000


@dataclass
class Remote:
    kind: str | None  # None: absent now, known from the workspace's record only
    hash: str | None
    mode: int
    size: int
    base: Held | None


def read_manifest(message: Message) -> tuple[dict[str, Remote], dict[str, int], list[str]]:
    """The workspace's entries, its partial files, and refusals (paths no side may use)."""
    remote: dict[str, Remote] = {}
    refused: list[str] = []
    for rel, kind, digest, mode, size, base_h, base_m in decode_entries(message.payload):
        try:
            remote[check_rel(rel)] = Remote(
                kind, digest, int(mode), int(size), (base_h, int(base_m)) if base_h else None
            )
        except PathRefused as exc:
            refused.append(f"the workspace listed a path this side refuses: {exc}")
    partials = {str(k): int(v) for k, v in (message.header.get("partials") or {}).items()}
    return remote, partials, refused


@dataclass
class Plan:
    found: dict[str, Entry | None] = field(default_factory=dict)  # what to send (None: delete there)
    new_unhashed: list[str] = field(default_factory=list)
    local: dict[str, Entry] = field(default_factory=dict)  # this side's scan
    wants: list[list[Any]] = field(default_factory=list)
    local_deletes: list[str] = field(default_factory=list)
    local_moves: list[tuple[str, str, Held]] = field(default_factory=list)
    local_modes: list[tuple[str, Held]] = field(default_factory=list)
    agree: dict[str, Held] = field(default_factory=dict)
    push_files: int = 0
    push_bytes: int = 0
    pull_files: int = 0
    pull_bytes: int = 0
    unchanged: int = 0
    conflicts: int = 0

    async def execute(self, peer: Peer) -> None:
        async with peer.lock:
            await asyncio.to_thread(self._local, peer)
        if self.agree:
            peer.send_agree(self.agree)
        await peer.send_changes(self.found, new_unhashed=[(rel, self.local[rel]) for rel in self.new_unhashed])
        for start in range(0, len(self.wants), WANT_BATCH):
            await peer.link.send(encode("want", {"items": self.wants[start : start + WANT_BATCH]}))

    def _local(self, peer: Peer) -> None:
        """The changes this side makes to itself: the workspace's renames and deletes, modes."""
        for src, dst, held in self.local_moves:
            try:
                apply.move_path(peer.root, src, dst)
            except (apply.ApplyError, apply.PathRefused) as exc:
                peer.fail(dst, str(exc))
                continue
            peer.remember(src, None)
            peer.synced(src, None)
            peer.synced(dst, held)
        for rel in sorted(self.local_deletes, key=lambda r: -r.count("/")):
            try:
                if apply.delete_path(peer.root, rel):
                    peer.remember(rel, None)
                    peer.synced(rel, None)
            except (apply.ApplyError, apply.PathRefused) as exc:
                peer.fail(rel, str(exc))
        for rel, held in self.local_modes:
            try:
                apply.set_mode(peer.root, rel, held[1])
            except (apply.ApplyError, apply.PathRefused) as exc:
                peer.fail(rel, str(exc))


def _changed(entry_hash: str | None, base: Held | None) -> bool:
    return base is None or entry_hash != base[0]


async def make_plan(peer: Peer, local: dict[str, Entry], remote: dict[str, Remote]) -> Plan:
    base = peer.state.base
    # Hash what must be compared; files new on this side are hashed later, when they are
    # read for sending (a large one just before, its hash naming its resumable partial).
    needed = [rel for rel, e in local.items() if e.kind == "f" and e.hash is None and (rel in remote or rel in base)]
    async with peer.lock:
        await asyncio.to_thread(hash_missing, peer.root, local, needed)
    plan = Plan(local=local)
    for rel in sorted(set(local) | set(remote) | set(base)):
        _plan_one(plan, peer, rel, local.get(rel), remote.get(rel), base.get(rel))
    _renames(plan, peer, local, remote)
    return plan


def _plan_one(plan: Plan, peer: Peer, rel: str, loc: Entry | None, r: Remote | None, bl: Held | None) -> None:
    if (r is not None and r.kind == "i") or (loc is None and os.path.lexists(f"{peer.root}/{rel}")):
        return  # synced once, ignored now on one side (still there): neither deleted nor sent
    present = r is not None and r.kind is not None
    br = r.base if r is not None else None
    if loc is not None and present:
        assert r is not None
        if loc.hash == r.hash:
            plan.unchanged += 1
            peer.peer[rel] = (r.hash or "", r.mode)
            if loc.mode != r.mode and loc.kind != "l":
                if bl is not None and loc.mode == bl[1] and r.mode != (br or bl)[1]:
                    plan.local_modes.append((rel, (r.hash or "", r.mode)))
                else:
                    plan.found[rel] = loc  # sent as a mode change
            plan.agree[rel] = (r.hash or "", r.mode)
            return
        if not _changed(loc.hash, bl) and _changed(r.hash, br):
            _want(plan, rel, loc, r)
            return
        if _changed(loc.hash, bl) and _changed(r.hash, br):
            plan.conflicts += 1
        _push(plan, peer, rel, loc, bl)
        return
    if loc is not None:  # the workspace lacks it
        # Deleted in the workspace, unchanged here: only if both records say it was synced.
        # A workspace without a record of it (a new or reset workspace) never had it.
        if bl is not None and br is not None and not _changed(loc.hash, bl):
            plan.local_deletes.append(rel)
            return
        if br is None and loc.kind == "f" and loc.hash is None:
            peer.peer.pop(rel, None)
            plan.new_unhashed.append(rel)
            plan.push_files += 1
            plan.push_bytes += loc.size
            return
        _push(plan, peer, rel, loc, None)
        return
    if present:  # this side lacks it
        assert r is not None
        if bl is not None and br is not None and not _changed(r.hash, br):
            peer.peer[rel] = (r.hash or "", r.mode)  # deleted here, unchanged there
            plan.found[rel] = None
            return
        _want(plan, rel, None, r)
        return
    # Gone from both sides: forget it.
    peer.synced(rel, None)


def _push(plan: Plan, peer: Peer, rel: str, loc: Entry, prev: Held | None) -> None:
    if prev is None:
        peer.peer.pop(rel, None)
    else:
        peer.peer[rel] = prev
    plan.found[rel] = loc
    if loc.kind == "f":
        plan.push_files += 1
        plan.push_bytes += loc.size


def _want(plan: Plan, rel: str, loc: Entry | None, r: Remote) -> None:
    plan.wants.append([rel, loc.hash if loc else None, loc.mode if loc else 0])
    if r.kind == "f":
        plan.pull_files += 1
        plan.pull_bytes += r.size


def _renames(plan: Plan, peer: Peer, local: dict[str, Entry], remote: dict[str, Remote]) -> None:
    # Renamed here: hash the new files that could be a deleted one (same size) so
    # send_changes turns the pair into a move.
    sizes = {remote[rel].size for rel, e in plan.found.items() if e is None and rel in remote}
    if sizes:
        keep: list[str] = []
        for rel in plan.new_unhashed:
            if local[rel].size in sizes:
                hash_missing(peer.root, local, [rel])
                if rel in local:
                    plan.found[rel] = local[rel]
                continue
            keep.append(rel)
        plan.new_unhashed = keep
    # Renamed in the workspace: a local delete plus a want of the same content is a local move.
    deletable = {local[rel].hash: rel for rel in plan.local_deletes if local[rel].kind == "f" and local[rel].hash}
    if not deletable:
        return
    wants: list[list[Any]] = []
    for item in plan.wants:
        rel, have = item[0], item[1]
        r = remote[rel]
        src = deletable.pop(r.hash, None) if have is None and r.kind == "f" else None
        if src is None:
            wants.append(item)
            continue
        plan.local_deletes.remove(src)
        plan.local_moves.append((src, rel, (r.hash or "", r.mode)))
        plan.agree[rel] = (r.hash or "", r.mode)
        peer.peer[rel] = (r.hash or "", r.mode)
        plan.pull_files -= 1
        plan.pull_bytes -= r.size
    plan.wants = wants
