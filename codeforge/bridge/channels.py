"""The channel registry: a channel's name (its websocket path) → its server-side `serve`.

Each channel lives in its own module, imported when the bridge starts (not when this one is
imported), so a bridge whose optional part fails to import still serves the others, and
says which one is missing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from codeforge.bridge.link import Link
from codeforge.bridge.sessions import ChannelContext

__all__ = ["CHANNELS", "CHANNEL_MODULES", "Serve", "load_channels"]

log = logging.getLogger(__name__)

# Runs for as long as the link lives; when it returns, the link closes.
Serve = Callable[[Link, ChannelContext], Awaitable[None]]

# name -> "module:function". The module is imported by `load_channels`.
CHANNEL_MODULES: dict[str, str] = {
    "lsp": "codeforge.bridge.lsp:serve",
    "lsp-proxy": "codeforge.bridge.lsp_proxy:serve",
    "sync": "codeforge.bridge.sync.server:serve",
    "terminal": "codeforge.bridge.terminal:serve",
    "ports": "codeforge.bridge.ports:serve_ports",
    "forward": "codeforge.bridge.ports:serve_forward",
    "ssh": "codeforge.bridge.ssh:serve",
    "dap": "codeforge.bridge.dap:serve",
}

CHANNELS: dict[str, Serve] = {}


def load_channels() -> dict[str, str]:
    """Import every channel into CHANNELS; returns {name: why} for those that failed."""
    missing: dict[str, str] = {}
    for name, target in CHANNEL_MODULES.items():
        if name in CHANNELS:
            continue
        module_name, _, function = target.partition(":")
        try:
            CHANNELS[name] = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as exc:
            missing[name] = f"{target}: {exc}"
            log.warning("channel %s unavailable (%s)", name, exc)
    return missing
