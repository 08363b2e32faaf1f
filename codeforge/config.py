"""Where the CLI and the language server find the platform and their credentials.

`codeforge up` writes `credentials.json` in the config folder; environment variables
(`CODEFORGE_URL`, `CODEFORGE_TOKEN`, `CODEFORGE_PROJECT`) win over it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ClientConfig", "config_dir", "credentials_path", "load_client_config", "save_credentials"]


def config_dir() -> Path:
    if explicit := os.environ.get("CODEFORGE_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "codeforge"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


@dataclass
class ClientConfig:
    url: str = ""
    token: str = ""
    project: str = ""
    username: str = ""
    organization: str = ""


def load_client_config() -> ClientConfig:
    cfg = ClientConfig()
    path = credentials_path()
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        for key in asdict(cfg):
            if isinstance(stored.get(key), str):
                setattr(cfg, key, stored[key])
    for key in ("url", "token", "project"):
        if value := os.environ.get(f"CODEFORGE_{key.upper()}"):
            setattr(cfg, key, value)
    return cfg


def save_credentials(cfg: ClientConfig) -> Path:
    """Write the credentials readable by the owner only: the token is a password."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(cfg), fh, indent=2)
    os.replace(tmp, path)
    return path
