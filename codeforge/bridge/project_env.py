"""The environment of what the bridge starts for a user (terminals, SSH shells, debuggees):
the bridge's own, less its credentials, plus the project's variables."""

from __future__ import annotations

import asyncio
import os

from codeforge.bridge.sessions import ChannelContext
from codeforge.catalog import env as env_ops
from codeforge.catalog.errors import CodeForgeError

__all__ = ["HIDDEN_ENV", "base_env", "project_env"]

ENV_TIMEOUT_S = 10.0
# The bridge's own credentials never reach a user's shell.
HIDDEN_ENV = ("CODEFORGE_TOKEN", "CODEFORGE_BRIDGE_TOKEN")


async def project_env(ctx: ChannelContext) -> tuple[dict[str, str], list[str]]:
    """The project's variables (secrets revealed as the user, audited by the platform), and
    notes for the user about what could not be loaded. Never values in the notes."""
    try:
        async with asyncio.timeout(ENV_TIMEOUT_S):
            listing = await ctx.platform.call(env_ops.LIST, {"project": ctx.project, "environment": "development"})
    except CodeForgeError as exc:
        return {}, [f"project variables not loaded: {exc.message}"]
    except TimeoutError:
        return {}, [f"project variables not loaded: the platform did not answer in {ENV_TIMEOUT_S:.0f} s"]
    if not isinstance(listing, env_ops.EnvList):
        return {}, ["project variables not loaded: unexpected answer from env.list"]
    values = {v.name: v.value for v in listing.items if not v.secret and v.value is not None}
    secrets = [v.name for v in listing.items if v.secret]

    async def reveal(name: str) -> str:
        async with asyncio.timeout(ENV_TIMEOUT_S):
            answer = await ctx.platform.call(
                env_ops.REVEAL, {"project": ctx.project, "name": name, "environment": "development"}
            )
        if not isinstance(answer, env_ops.EnvValue):
            raise TypeError("unexpected answer from env.reveal")
        return answer.value

    notes = []
    revealed = await asyncio.gather(*(reveal(n) for n in secrets), return_exceptions=True)
    for name, value in zip(secrets, revealed, strict=True):
        if isinstance(value, str):
            values[name] = value
        else:
            why = value.message if isinstance(value, CodeForgeError) else str(value) or type(value).__name__
            notes.append(f"secret {name} not set: {why}")
    return values, notes


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
    env.setdefault("TERM", "xterm-256color")  # what the editors' terminals speak
    return env
