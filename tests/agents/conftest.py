"""Fixtures the agents' tests share: a ReplayServer per test (the real `openai` client talks
to it over loopback) and a ModelClient pointed at one, whose waits are recorded, not slept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from codeforge.platform.agents.endpoint import Endpoint
from codeforge.platform.agents.meter import Meter
from codeforge.platform.agents.model import ModelClient
from codeforge.platform.agents.replay import ReplayServer, Turn

__all__ = ["Sleeps"]

TEST_KEY = "sk-test-key-0123456789abcdef"


class Sleeps(list[float]):
    """An injectable `sleep` that records what it was asked to wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def replay() -> Iterator[Callable[..., ReplayServer]]:
    """`replay(turns, repeat_last=False, model=…)` → a started ReplayServer, stopped after the test."""
    servers: list[ReplayServer] = []

    def start(turns: list[Turn], **kwargs: Any) -> ReplayServer:
        server = ReplayServer(turns, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def model_client(sleeps: Sleeps) -> Iterator[Callable[..., ModelClient]]:
    """`model_client(server, **endpoint_fields)` → a ModelClient on the server with its own Meter
    (`client.meter`); `sleeps` holds the waits between retries. Defaults: key TEST_KEY, model
    "replay-model", timeout 10 s, 4 retries."""
    clients: list[ModelClient] = []

    def make(server: ReplayServer, **fields: Any) -> ModelClient:
        settings: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": TEST_KEY,
            "model": "replay-model",
            "timeout_s": 10.0,
        }
        settings.update(fields)
        endpoint = Endpoint(**settings)
        client = ModelClient(endpoint, Meter(endpoint), sleep=sleeps)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
