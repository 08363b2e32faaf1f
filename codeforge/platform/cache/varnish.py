"""One Varnish per edge node: the varnishd process, its admin CLI, and its hit/miss counts.

`VarnishNode` runs `varnishd -F` (foreground, so its supervisor sees it die) with its own work
dir (`-n`), listening on the node's cache address (`-a`) and its admin CLI on 127.0.0.1 with a
secret file (`-T`, `-S`). VCL changes go through the CLI as `vcl.load` then `vcl.use`: a VCL
the compiler refuses is never used, and the one live before keeps serving. Purges are bans
(`ban obj.http.X-CF-… ~ …`). `Admin.from_workdir` reaches a node's CLI from its work dir alone,
so any process of the platform can ban or load without holding the process object.

`varnishncsa` beside each varnishd prints one line per client request, `<route id> <handling>`
(the route id the VCL logged with `std.log("cf-route:…")`, and hit, miss, pass, pipe or
synth); a reader thread counts them for `drain_counts()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from codeforge.platform.cache.vcl import PROBE

__all__ = [
    "Admin",
    "Unreachable",
    "VarnishError",
    "VarnishNode",
    "VclRefused",
    "cli_quote",
    "kill_stale",
    "varnish_available",
]

log = logging.getLogger("codeforge.cache.varnish")

VARNISHD = os.environ.get("CODEFORGE_VARNISHD", "") or shutil.which("varnishd") or "/usr/sbin/varnishd"
VARNISHNCSA = shutil.which("varnishncsa") or "/usr/bin/varnishncsa"
VARNISHSTAT = shutil.which("varnishstat") or "/usr/bin/varnishstat"
_KEEP_VCLS = 3  # loaded VCLs kept (the active one and the last ones before it); older are discarded


class VarnishError(Exception):
    pass


class Unreachable(VarnishError):
    """The node's admin CLI did not answer (down, stopped, or its address refused)."""


class VclRefused(VarnishError):
    """varnishd refused a VCL (the compiler's message); the VCL live before stays live."""


def varnish_available() -> bool:
    return Path(VARNISHD).is_file() and os.access(VARNISHD, os.X_OK) and shutil.which("cc") is not None


def cli_quote(word: str) -> str:
    """One word of the varnish CLI as its parser reads it: bare when it can be (Varnish 7.1's
    parser refuses a quoted word after another quoted word), else quoted and escaped."""
    if word and not any(c.isspace() or c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F for c in word):
        return word
    word = word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in word):
        raise ValueError(f"{word!r} holds a control character")
    return '"' + word + '"'


class Admin:
    """The varnish CLI (varnish-cli(7)) over TCP: challenge-response authentication with the
    secret, then one command per connection."""

    def __init__(self, address: str, secret: bytes, timeout: float = 3.0) -> None:
        self.address = address
        self.secret = secret
        self.timeout = timeout

    @classmethod
    def from_workdir(cls, workdir: Path, timeout: float = 3.0) -> Admin:
        try:
            address = (workdir / "admin").read_text().strip()
            secret = (workdir / "secret").read_bytes()
        except OSError as exc:
            raise Unreachable(f"its cache was never started here ({exc.strerror})") from None
        return cls(address, secret, timeout)

    @staticmethod
    def _read(conn: socket.socket, buf: bytearray) -> tuple[int, str]:
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                raise Unreachable("the admin connection closed")
            buf += chunk
        head, _, rest = bytes(buf).partition(b"\n")
        status_s, length_s = head.split()[:2]
        length = int(length_s)
        body = bytearray(rest)
        while len(body) < length + 1:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        buf.clear()
        buf += body[length + 1 :]
        return int(status_s), bytes(body[:length]).decode(errors="replace")

    def call(self, *words: str) -> str:
        """Run one command; its output, or VarnishError with varnishd's message."""
        host, _, port = self.address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=self.timeout) as conn:
                buf = bytearray()
                status, body = self._read(conn, buf)
                if status == 107:
                    challenge = body.split("\n", 1)[0]
                    digest = hashlib.sha256(
                        challenge.encode() + b"\n" + self.secret + challenge.encode() + b"\n"
                    ).hexdigest()
                    conn.sendall(f"auth {digest}\n".encode())
                    status, body = self._read(conn, buf)
                if status != 200:
                    raise Unreachable(f"the admin CLI refused the secret ({status})")
                line = " ".join([words[0], *(cli_quote(w) for w in words[1:])])
                conn.sendall(line.encode() + b"\n")
                status, body = self._read(conn, buf)
        except (TimeoutError, OSError) as exc:
            raise Unreachable(f"its admin CLI at {self.address} did not answer ({exc})") from None
        if status != 200:
            raise VarnishError(body.strip() or f"status {status}")
        return body

    # ---- what the platform does with it ---------------------------------------------------

    def load(self, vcl: str, workdir: Path | None = None) -> str:
        """Compile `vcl` and make it the active one; VclRefused (the old one stays) when the
        compiler refuses it. Returns the new VCL's name."""
        name = f"cf_{time.time_ns() // 1000}"
        try:
            self.call("vcl.inline", name, vcl)
        except Unreachable:
            raise
        except VarnishError as exc:
            raise VclRefused(str(exc)) from None
        self.call("vcl.use", name)
        if workdir is not None:  # what the node runs, for a restart and for "is it behind?"
            (workdir / "active.vcl").write_text(vcl)
        self._discard_old(name)
        return name

    def _discard_old(self, active: str) -> None:
        names: list[str] = []
        for line in self.call("vcl.list").splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] == "available" and parts[-1].startswith("cf_"):
                names.append(parts[-1])
        for name in sorted(names)[: max(0, len(names) - _KEEP_VCLS + 1)]:
            with contextlib.suppress(VarnishError):
                self.call("vcl.discard", name)

    def ban(self, *expression: str) -> None:
        """`ban field op arg [&& field op arg]…`, each part a word."""
        self.call("ban", *expression)

    def active_vcl(self) -> str:
        for line in self.call("vcl.list").splitlines():
            parts = line.split()
            if parts and parts[0] == "active":
                return parts[-1]
        return ""


class VarnishNode:
    """varnishd for one edge node, with its varnishncsa counting requests."""

    def __init__(
        self,
        name: str,
        listen: str,
        backend: str,
        workdir: Path,
        *,
        storage: str = "malloc,256m",
        admin_port: int = 0,
    ) -> None:
        self.name = name
        self.listen = listen
        self.backend = backend
        self.workdir = Path(workdir).resolve()
        self.storage = storage
        self.admin_port = admin_port
        self.process: subprocess.Popen[bytes] | None = None
        self._ncsa: subprocess.Popen[bytes] | None = None
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._probed = threading.Event()
        self.started_at = 0.0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def admin(self, timeout: float = 3.0) -> Admin:
        return Admin.from_workdir(self.workdir, timeout)

    def start(self, vcl: str, timeout: float = 60.0) -> None:
        """Start varnishd with `vcl` (VclRefused, and nothing left running, when it does not
        compile) and wait until its child serves."""
        if self.alive:
            return
        self._probed.clear()
        self.workdir.mkdir(parents=True, exist_ok=True)
        kill_stale(self.workdir)
        secret_file = self.workdir / "secret"
        if not secret_file.exists():
            secret_file.touch(mode=0o600)
            secret_file.write_text(secrets.token_hex(32) + "\n")
        os.chmod(secret_file, 0o600)
        boot = self.workdir / "boot.vcl"
        boot.write_text(vcl)
        port = self.admin_port or _free_port()
        (self.workdir / "admin").write_text(f"127.0.0.1:{port}\n")
        logfile = self.workdir / "varnishd.log"
        with logfile.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    VARNISHD,
                    "-F",
                    "-j",
                    "none",
                    "-n",
                    str(self.workdir / "state"),
                    "-a",
                    self.listen,
                    "-T",
                    f"127.0.0.1:{port}",
                    "-S",
                    str(secret_file),
                    "-f",
                    str(boot),
                    "-s",
                    self.storage,
                    "-p",
                    "ban_lurker_sleep=0.1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        (self.workdir / "varnishd.pid").write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        admin = self.admin(timeout=1.0)
        while True:
            if self.process.poll() is not None:
                self.process = None
                text = logfile.read_text(errors="replace")[-3000:]
                if "VCL compilation failed" in text or "Message from VCC" in text:
                    raise VclRefused(text)
                raise VarnishError(f"varnishd exited at start: {text}")
            try:
                if "running" in admin.call("status"):
                    break
            except VarnishError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise VarnishError(f"varnishd did not start in {timeout:.0f} s: {logfile.read_text()[-2000:]}")
            time.sleep(0.1)
        (self.workdir / "active.vcl").write_text(vcl)
        self.started_at = time.time()
        self._start_ncsa()
        if f"cf-route:{PROBE}" in vcl:
            self._wait_ncsa(deadline)

    def _wait_ncsa(self, deadline: float) -> None:
        """Send probes until varnishncsa reports one: it reads the log from its tail, so
        requests before it is attached would go uncounted."""
        host, port = self.listen.rsplit(":", 1)
        while not self._probed.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host.strip("[]"), int(port)), 2) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nX-CF-Probe: 1\r\nConnection: close\r\n\r\n")
                conn.recv(1024)
            self._probed.wait(0.2)
        if not self._probed.is_set():
            log.warning("cache: varnishncsa of node %s reported no probe; its counts may miss requests", self.name)

    def _start_ncsa(self) -> None:
        self._ncsa = subprocess.Popen(
            [
                VARNISHNCSA,
                "-n",
                str(self.workdir / "state"),
                "-F",
                "%{VCL_Log:cf-route}x %{Varnish:handling}x",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        (self.workdir / "varnishncsa.pid").write_text(f"{self._ncsa.pid}\n")
        threading.Thread(
            target=self._read_ncsa, args=(self._ncsa,), name=f"varnishncsa-{self.name}", daemon=True
        ).start()

    def _read_ncsa(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            parts = raw.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == PROBE:
                self._probed.set()
            elif len(parts) == 2 and parts[0] != "-":
                with self._lock:
                    self._counts[(parts[0], parts[1])] += 1

    def drain_counts(self) -> dict[tuple[str, str], int]:
        """Requests counted since the last drain, by (route id, handling)."""
        with self._lock:
            out = dict(self._counts)
            self._counts.clear()
        return out

    def stop(self) -> None:
        for proc in (self._ncsa, self.process):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGCONT)  # a node paused by a test or an operator
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.process = None
        self._ncsa = None

    # ---- operations --------------------------------------------------------------------------

    def load(self, vcl: str) -> str:
        return self.admin().load(vcl, self.workdir)

    def stats(self) -> dict[str, int]:
        """varnishstat's main counters (cache_hit, cache_miss, n_object, bans …)."""
        out = subprocess.run(
            [VARNISHSTAT, "-n", str(self.workdir / "state"), "-1", "-j"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if out.returncode != 0:
            raise Unreachable(out.stderr.decode(errors="replace").strip())
        data = json.loads(out.stdout)
        counters = data.get("counters", data)
        return {
            k.removeprefix("MAIN."): int(v.get("value", 0))
            for k, v in counters.items()
            if isinstance(v, dict) and k.startswith("MAIN.")
        }


def kill_stale(workdir: Path) -> list[str]:
    """End the varnishd and varnishncsa a killed platform left on this work dir (their pid
    files, checked against the process's command line so a reused pid is left alone)."""
    ended: list[str] = []
    for program in ("varnishd", "varnishncsa"):
        pid_file = workdir / f"{program}.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if program in cmdline and str(workdir) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
                os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid):
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            ended.append(f"{program} {pid} on {workdir}")
        pid_file.unlink(missing_ok=True)
    return ended


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0].lower()
    except (OSError, IndexError):
        return ""


def _die_with_parent() -> None:  # in the child, before exec: a killed platform takes its caches along
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
