"""CodeForge: a development platform that lives inside the editor."""

__version__ = "0.1.0"
