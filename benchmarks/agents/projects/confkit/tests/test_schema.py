import pytest

from confkit import Field, SchemaError
from confkit.schema import to_bool, to_list


def test_types_and_defaults(schema):
    values = schema.apply({"db": {"url": "sqlite://"}, "server": {"port": "9000", "debug": "yes"}})
    assert values["server.port"] == 9000 and values["server.debug"] is True
    assert values["server.host"] == "127.0.0.1" and values["log.targets"] == []


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "db.url"),
        ({"db": {"url": "x", "pool_size": "many"}}, "db.pool_size"),
        ({"db": {"url": "x"}, "log": {"level": "loud"}}, "log.level"),
        ({"db": {"url": "x"}, "server": {"colour": "red"}}, "server.colour"),
    ],
)
def test_problems_name_the_key(schema, config, key):
    with pytest.raises(SchemaError) as info:
        schema.apply(config)
    assert info.value.key == key


def test_converters():
    assert to_list("a, b\nc,,") == ["a", "b", "c"]
    assert to_bool(" Off ") is False
    with pytest.raises(ValueError):
        to_bool("maybe")
    with pytest.raises(ValueError):
        Field("decimal")
