"""Layered INI-style configuration with a schema and environment overrides."""

from confkit.errors import ConfigError, ParseError, SchemaError
from confkit.loader import load
from confkit.schema import Field, Schema

__all__ = ["ConfigError", "Field", "ParseError", "Schema", "SchemaError", "load"]
