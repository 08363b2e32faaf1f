"""Fixtures every test folder shares: real platforms on loopback, and `require` for components."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.catalog import JobRef
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import JobState
from codeforge.client import PlatformClient

__all__ = ["RunningPlatform", "free_port", "require", "start_platform"]

# Session platforms shared across test folders: one instance each, whichever module asks first.
pytest_plugins = ["tests.monitoring_platform"]

ROOT = Path(__file__).resolve().parent.parent


def require(component: str, available: bool, reason: str) -> None:
    """Skip when `component` is absent, unless CODEFORGE_TEST_REQUIRE names it (or says `all`)."""
    if available:
        return
    wanted = {c.strip() for c in os.environ.get("CODEFORGE_TEST_REQUIRE", "").split(",") if c.strip()}
    if component in wanted or "all" in wanted:
        pytest.fail(f"{component} is required here but absent: {reason}")
    pytest.skip(f"{component} absent: {reason}")


def run_operation(client: PlatformClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call an operation as a JSON answer; for a job, wait for it and return its result or
    raise its error."""
    out = client.call(op, body)
    if isinstance(out, JobRef):
        events = list(client.events(out.job_id))
        last = events[-1]
        if last.state is not JobState.SUCCEEDED:
            job = client.job(out.job_id)
            raise CodeForgeError(job.error or last.error or f"job {last.state}")
        assert last.result is not None
        return last.result
    return out.model_dump(mode="json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningPlatform:
    """A `codeforge up` process on loopback, with an owner token for project `demo`."""

    data_dir: Path
    config_dir: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    project: str = "demo"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (CLI, language server) that should use this platform."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
        env.update(
            CODEFORGE_CONFIG_DIR=str(self.config_dir),
            CODEFORGE_DATA_DIR=str(self.data_dir),
            CODEFORGE_PORT=str(self.port),
            CODEFORGE_BOOTSTRAP="1",
            CODEFORGE_BOOTSTRAP_PROJECT=self.project,
            CODEFORGE_INSTANCE_ID=f"test-{self.port}",
            CODEFORGE_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def token(self) -> str:
        return str(json.loads((self.config_dir / "credentials.json").read_text())["token"])

    @property
    def log_path(self) -> Path:
        return self.data_dir / "platform.log"

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                # `up`: the platform plus the CLI's bootstrap, which saves the owner's login in config_dir.
                [sys.executable, "-m", "codeforge", "up", "--project", self.project],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"platform exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"platform did not start:\n{self.log_path.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop it the hard way, as a crash or an OOM kill would."""
        self.stop(signal.SIGKILL)

    def client(self) -> PlatformClient:
        return PlatformClient(self.url, self.token)

    def logs(self) -> str:
        return self.log_path.read_text()


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran against a platform reports the platform's log and the logs of
    the PostgreSQL servers it ran: the cause of an end-to-end failure is usually in them, and
    the temporary directory holding them is gone by the time anyone looks."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, RunningPlatform):
            kept = _keep_logs(item, value)
            report.sections.append((f"platform log (whole: {kept})", _tail(value.log_path)))
            for log in sorted(value.data_dir.rglob("postgres.log")):
                report.sections.append((f"PostgreSQL log {log}", _tail(log)))


def _keep_logs(item: pytest.Item, platform: RunningPlatform) -> Path:
    """Copy a failed test's platform and PostgreSQL logs under test-artifacts/, which CI prints
    and keeps: the temporary directory holding them is removed with the test session."""
    folder = ROOT / "test-artifacts" / "failed" / re.sub(r"[^\w.-]+", "_", item.nodeid)[-120:]
    folder.mkdir(parents=True, exist_ok=True)
    for log in [platform.log_path, *platform.data_dir.rglob("*.log")]:
        if log.is_file():
            name = "platform.log" if log == platform.log_path else "_".join(log.relative_to(platform.data_dir).parts)
            shutil.copyfile(log, folder / name)
    return folder


def start_platform(base: Path, **extra_env: str) -> RunningPlatform:
    base.mkdir(parents=True, exist_ok=True)
    running = RunningPlatform(data_dir=base / "data", config_dir=base / "config", port=free_port(), extra_env=extra_env)
    running.data_dir.mkdir(exist_ok=True)
    running.start()
    return running


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    running = start_platform(tmp_path_factory.mktemp("platform"))
    yield running
    running.stop()


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[object]:
    started: list[RunningPlatform] = []

    def make(**extra_env: str) -> RunningPlatform:
        running = start_platform(tmp_path / f"p{len(started)}", **extra_env)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="session", autouse=True)
def _nothing_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Database engines, PgBouncer and workspaces' services outlive the platform that started
    them on purpose (the next platform adopts them), so a test's platform leaves them running when it stops. At the
    end of the run, every process still working in this session's temporary folders goes."""
    yield
    base = str(tmp_path_factory.getbasetemp())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            # A workspace's service runs sandboxed, its command naming no folder: its
            # environment (HOME, PWD: the workspace's tree) says where it works.
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if base in command or base in environ:
            with contextlib.suppress(OSError):  # gone meanwhile
                os.kill(int(entry.name), signal.SIGKILL)
