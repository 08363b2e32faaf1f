"""Which events are the same error, as Sentry groups them: the exception's type plus the
in-app frames' module path and function, never line numbers (an edit above the failing line
must not open a new group) nor the message (it carries ids and values). Without an in-app
frame the message stands in for the stack, its numbers, hex values and UUIDs masked.

A deployment puts the same code under different roots (/app, /srv/app, /home/u/src/app), and
an in-app frame may lie outside that root (a script in /usr/local/bin, a test runner), so no
prefix can be cut reliably: an absolute path counts by its file's name alone, which together
with the function and the frames' order tells stacks apart as well as the full path would. A
relative path (a JVM frame's package path, com/shop/Cart.java) is already free of the
deployment and counts whole."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Sequence

from codeforge.platform.monitoring.records import ExceptionEvent, StackFrame

__all__ = ["culprit", "fingerprint", "mask_message", "module_path", "normalise_type"]

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Names compilers number: Java's lambda$main$0, Python's <lambda>s keep theirs (no number).
_NUMBERED = re.compile(r"\$\d+")
_PACKAGE_FILES = frozenset({"__init__", "__main__", "index", "mod"})


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


def module_path(path: str) -> str:
    """The part of a frame's path that is the same wherever the code is deployed."""
    path = _clean(path)
    if not (path.startswith("/") or path[1:3] == ":/"):
        return posixpath.normpath(path)
    folder, name = posixpath.split(path)
    # A package's own file is named for its folder: shop/__init__.py, cart/index.js.
    return f"{posixpath.basename(folder)}/{name}" if name.split(".", 1)[0] in _PACKAGE_FILES else name


def fingerprint(event: ExceptionEvent) -> str:
    """32 hex digits naming the event's group."""
    parts = [normalise_type(event.type)]
    frames = [f for f in event.frames if f.in_app]
    if frames:
        parts += [f"{module_path(f.path)}:{_NUMBERED.sub('$', f.function)}" for f in frames]
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
