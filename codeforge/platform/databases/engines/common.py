"""What every database engine shares: names, passwords, server binaries, the OS user
that runs server processes, and running a tool with a clear error when it fails."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem

__all__ = [
    "DB_NAME_PATTERN",
    "RESERVED_NAMES",
    "BranchMethod",
    "Connection",
    "DatabaseSize",
    "check_name",
    "file_lock",
    "grant_traversal",
    "new_password",
    "os_user",
    "pg_bin_dir",
    "run_tool",
    "scram_sha256_verifier",
]

# Lower-case so the name means the same on every engine without quoting rules in the user's code.
DB_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_NAME = re.compile(DB_NAME_PATTERN)
RESERVED_NAMES = frozenset(
    {
        "postgres",
        "template0",
        "template1",
        "mysql",
        "information_schema",
        "performance_schema",
        "sys",
        "pgbouncer",
        "public",
        "root",
        "admin",
    }
)
# Artifacts of an operation still in progress carry this prefix until they are complete, so
# a sweep can tell a half-made database from a user's one after a crash.
PARTIAL_PREFIX = "cfpartial_"


class BranchMethod(StrEnum):
    SNAPSHOT = "btrfs-snapshot"  # copy-on-write: the data directory's subvolume is snapshotted
    REFLINK = "reflink-copy"  # copy-on-write: files are cloned (XFS, btrfs without a subvolume)
    TEMPLATE = "template-copy"  # CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY
    DUMP = "dump-load"  # logical dump piped into a new database (MySQL)

    @property
    def copy_on_write(self) -> bool:
        return self in (BranchMethod.SNAPSHOT, BranchMethod.REFLINK)


@dataclass(frozen=True)
class Connection:
    """Where one database is and who may use it."""

    engine: str  # "postgresql" or "mysql"
    host: str
    port: int
    database: str
    user: str
    password: str

    @property
    def url(self) -> str:
        return (
            f"{self.engine}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{self.database}"
        )

    def redacted_url(self) -> str:
        return f"{self.engine}://{quote(self.user, safe='')}:***@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class DatabaseSize:
    name: str
    owner: str
    size_bytes: int


def check_name(value: str, field: str = "name") -> str:
    """Refuse a name before it reaches a server, with what to use instead."""
    if not _NAME.match(value):
        raise BadInput(
            f"{value!r} is not a valid database name",
            errors=[
                FieldProblem(
                    field,
                    "must match " + DB_NAME_PATTERN,
                    "use lower-case letters, digits and underscores, starting with a letter",
                )
            ],
        )
    if value in RESERVED_NAMES or value.startswith(PARTIAL_PREFIX):
        raise BadInput(
            f"{value!r} is reserved",
            errors=[FieldProblem(field, "reserved by the database server or CodeForge", "choose another name")],
        )
    return value


def new_password() -> str:
    # URL-safe without quoting, long enough that guessing is hopeless.
    return secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here so the plain password is
    never sent to the server (where statement logging could record it); PgBouncer's
    auth_file accepts the same verifier."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def pg_bin_dir(major: int | None = None) -> Path:
    """Directory of PostgreSQL binaries: the one matching `major` when given (pg_dump must be
    at least the server's version), else the `pgserver` wheel's, else Debian's newest, else PATH."""
    candidates: list[Path] = []
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        candidates += sorted((p / "bin" for p in debian.iterdir()), key=lambda p: -_major_of(p))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    found = [c for c in candidates if (c / "pg_ctl").exists() and (c / "pg_dump").exists()]
    if not found:
        raise ExternalFailure(
            "no PostgreSQL binaries found",
            fix="install the `pgserver` wheel (pip install pgserver) or Debian's postgresql package",
        )
    if major is None:
        return found[0]
    exact = [c for c in found if _major_of(c) == major]
    newer = sorted((c for c in found if _major_of(c) > major), key=_major_of)
    if exact or newer:
        return (exact or newer)[0]
    raise ExternalFailure(
        f"no PostgreSQL {major} (or newer) client binaries found; found "
        + ", ".join(f"{_major_of(c)} in {c}" for c in found),
        fix=f"install postgresql-client-{major} so dumps match the server's version",
    )


_MAJOR_CACHE: dict[Path, int] = {}


def _major_of(bin_dir: Path) -> int:
    if bin_dir not in _MAJOR_CACHE:
        try:
            out = subprocess.run(
                [str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            _MAJOR_CACHE[bin_dir] = int(re.findall(r"(\d+)(?:\.\d+)?", out)[0])
        except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
            _MAJOR_CACHE[bin_dir] = 0
    return _MAJOR_CACHE[bin_dir]


def os_user(name: str = "codeforge") -> pwd.struct_passwd:
    """The OS user that server processes run as. PostgreSQL and PgBouncer refuse to run as
    root, so when CodeForge runs as root it uses (and creates once) a system user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise ExternalFailure(
            f"running as root and there is no OS user {name!r} to run database servers as",
            fix=f"create one: `useradd --system {name}`, or run CodeForge as a non-root user",
        )
    proc = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise ExternalFailure(
            f"could not create OS user {name!r}: {proc.stderr.strip()}",
            fix=f"create it yourself: `useradd --system {name}`",
        )
    return pwd.getpwnam(name)


def run_tool(
    args: list[str],
    *,
    what: str,
    fix: str,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
    user: int | None = None,
    group: int | None = None,
) -> str:
    """Run a server tool; on failure raise an error that quotes its last lines of output."""
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, env=full_env, timeout=timeout, user=user, group=group
        )
    except FileNotFoundError:
        raise ExternalFailure(f"{what}: {args[0]} is not installed", fix=fix) from None
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{what}: {Path(args[0]).name} did not finish in {timeout:.0f} s", fix=fix) from None
    if proc.returncode != 0:
        raise ExternalFailure(f"{what}: {tail(proc.stderr or proc.stdout)}", fix=fix)
    return proc.stdout


def tail(text: str, lines: int = 3) -> str:
    kept = [ln.strip() for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return " / ".join(kept) or "no output"


def grant_traversal(path: Path, uid: int) -> None:
    """The server's OS user must be able to walk down to its data directory. Where a parent
    is closed to others, grant that one user search permission (an ACL entry, no listing)."""
    if os.geteuid() != 0 or uid == 0:
        return
    setfacl = shutil.which("setfacl")
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_mode & 0o001 or st.st_uid == uid:
            continue
        if not setfacl:
            raise ExternalFailure(
                f"the database server's OS user cannot reach {path}: {parent} is closed to other users",
                fix=f"`chmod o+x {parent}`, install `acl`, or choose a data dir under an open directory",
            )
        subprocess.run([setfacl, "-m", f"u:{uid}:x", str(parent)], check=False, capture_output=True)


@contextmanager
def file_lock(lock: Path, *, wait: bool = True) -> Iterator[bool]:
    """An flock on `lock` (the kernel drops it when the holder dies): yields False without
    waiting when `wait` is false and another process holds it."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
