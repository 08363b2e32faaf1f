"""Which events are the same error, as Sentry groups them: the exception's type plus the
in-app frames' module path and function, never line numbers (an edit above the failing line
must not open a new group) nor the message (it carries ids and values). Without an in-app
frame the message stands in for the stack, its numbers, hex values and UUIDs masked.

A deployment puts the same code under different roots (/app, /srv/app, /home/u/src/app), so a
frame's path counts relative to the deepest folder all the event's in-app frames share: the
same stack gives the same relative paths wherever it runs."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Sequence

from codeforge.platform.monitoring.records import ExceptionEvent, StackFrame

__all__ = ["culprit", "fingerprint", "mask_message", "module_paths", "normalise_type"]

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Names compilers number: Java's lambda$main$0, Python's <lambda>s keep theirs (no number).
_NUMBERED = re.compile(r"\$\d+")


def mask_message(message: str) -> str:
    """The message with what varies between occurrences masked: UUIDs, hex values, numbers."""
    masked = _UUID.sub("<uuid>", message)
    masked = _HEX.sub("<hex>", masked)
    return _NUMBER.sub("<n>", masked).strip()


def normalise_type(kind: str) -> str:
    """`shop.errors.PaymentError` (a traceback), `PaymentError` (OpenTelemetry's qualname),
    `builtins.KeyError`: the class's own name, so one error from logs and traces is one group."""
    return kind.strip().rsplit(".", 1)[-1]


def _clean(path: str) -> str:
    path = path.replace("\\", "/").removeprefix("file://")
    return path[:-1] if path.endswith(".pyc") else path


def module_paths(frames: Sequence[StackFrame]) -> list[str]:
    """Each frame's path relative to the deepest folder the in-app frames share (a single
    frame: its file's name), so the deployment's root drops out."""
    paths = [_clean(f.path) for f in frames]
    app = [p for p, f in zip(paths, frames, strict=True) if f.in_app and "/" in p]
    root = ""
    if app:
        try:
            root = posixpath.dirname(app[0]) if len(set(app)) == 1 else posixpath.commonpath(app)
        except ValueError:  # absolute and relative paths mixed: nothing shared
            root = ""
    return [posixpath.relpath(p, root) if root and p.startswith(root + "/") else p for p in paths]


def fingerprint(event: ExceptionEvent) -> str:
    """32 hex digits naming the event's group."""
    parts = [normalise_type(event.type)]
    frames = [(path, f) for path, f in zip(module_paths(event.frames), event.frames, strict=True) if f.in_app]
    if frames:
        parts += [f"{path}:{_NUMBERED.sub('$', f.function)}" for path, f in frames]
    else:
        parts.append("message:" + mask_message(event.message))
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


def culprit(frames: Sequence[StackFrame]) -> str:
    """ "path in function" of the innermost in-app frame (where the app raised or called into
    the library that did), as Sentry's culprit; the innermost frame when none is in app."""
    chosen = next((f for f in reversed(frames) if f.in_app), frames[-1] if frames else None)
    if chosen is None:
        return ""
    return f"{chosen.path} in {chosen.function}" if chosen.function else chosen.path
