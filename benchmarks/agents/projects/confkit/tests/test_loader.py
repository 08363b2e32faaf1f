import pytest

from confkit import ConfigError, load
from confkit.env import variable_name


def test_layers_then_environment(tmp_path, schema):
    (tmp_path / "site.ini").write_text("[db]\nurl = postgres://site\npool_size = 10\n")
    (tmp_path / "user.ini").write_text("[server]\nport = 9000\n")
    environ = {"APP_DB__POOL_SIZE": "20", "APP_SERVER__DEBUG": "on", "HOME": "/root", "APP_IGNORED": "x"}
    values = load(
        [tmp_path / "site.ini", tmp_path / "missing.ini", tmp_path / "user.ini"],
        schema,
        environ=environ,
        defaults={"log": {"level": "warning"}},
    )
    assert values["db.url"] == "postgres://site"
    assert values["db.pool_size"] == 20
    assert values["server.port"] == 9000 and values["server.debug"] is True
    assert values["log.level"] == "warning"


def test_environment_names_case_insensitive(schema):
    values = load([], schema, prefix="myapp", environ={"MYAPP_db__URL": "x", "myapp_DB__POOL_SIZE": "3"})
    assert values["db.url"] == "x" and values["db.pool_size"] == 3


def test_bad_environment_variable(schema):
    with pytest.raises(ConfigError, match="SECTION__KEY"):
        load([], schema, environ={"APP___URL": "x"})


def test_bad_prefix(schema):
    with pytest.raises(ConfigError):
        load([], schema, prefix="app_")


def test_variable_name():
    assert variable_name("app", "db", "pool-size") == "APP_DB__POOL_SIZE"
