import pytest

from confkit import Field, Schema


@pytest.fixture
def schema() -> Schema:
    return Schema(
        {
            "server.host": Field(default="127.0.0.1"),
            "server.port": Field("int", default=8080),
            "server.debug": Field("bool", default=False),
            "db.url": Field(required=True),
            "db.pool_size": Field("int", default=5),
            "log.level": Field(default="info", choices=("debug", "info", "warning")),
            "log.targets": Field("list", default=[]),
        }
    )
