"""Errors of confkit: each names where the problem is."""


class ConfigError(Exception):
    """Base of confkit's errors."""


class ParseError(ConfigError):
    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line = source, line


class SchemaError(ConfigError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
