"""Remote-write (part `remote_write`): what the store kept since the last send goes to a
Prometheus-compatible receiver (`CODEFORGE_MONITORING_REMOTE_WRITE_URL`), as the remote-write
1.0 specification says: a protobuf `prometheus.WriteRequest` (built here from its descriptor,
no generated code), snappy block-compressed, with the spec's headers.

The store queues every stored sample in its outbox while remote-write is configured; the
writer sends the oldest rows, and deletes them once the receiver accepted them (2xx) or
refused them for good (4xx but 429: counted and logged, never retried). 5xx, 429 and
connection errors keep the rows and retry with exponential back-off. The outbox's order is
the watermark: nothing is sent twice unless the platform dies between a send and its
acknowledgement. On PostgreSQL one replica at a time holds the writer's turn."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import cramjam
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from sqlalchemy import select

from codeforge import __version__
from codeforge.platform.auth.models import Project
from codeforge.platform.monitoring.periodic import Periodic

if TYPE_CHECKING:
    from codeforge.platform.monitoring.metrics.backends import OutboxRow
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["RemoteWriter", "WriteRequest", "encode"]

log = logging.getLogger("codeforge.monitoring.remote_write")

BATCH = 20_000  # samples per request (Prometheus's own default max_samples_per_send is 2,000-10,000)
OUTBOX_LIMIT = 2_000_000  # samples kept while the receiver is down; older ones are dropped, counted
MAX_BACKOFF_S = 30.0


def _write_request_class() -> Any:
    """prometheus.WriteRequest (prompb/remote.proto, types.proto: the fields 1.0 sends)."""
    f = descriptor_pb2.FileDescriptorProto(name="codeforge_prompb.proto", package="prometheus", syntax="proto3")

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = f.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    T = descriptor_pb2.FieldDescriptorProto
    message(
        "Label", ("name", 1, T.TYPE_STRING, T.LABEL_OPTIONAL, ""), ("value", 2, T.TYPE_STRING, T.LABEL_OPTIONAL, "")
    )
    message(
        "Sample",
        ("value", 1, T.TYPE_DOUBLE, T.LABEL_OPTIONAL, ""),
        ("timestamp", 2, T.TYPE_INT64, T.LABEL_OPTIONAL, ""),
    )
    message(
        "TimeSeries",
        ("labels", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".prometheus.Label"),
        ("samples", 2, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".prometheus.Sample"),
    )
    message("WriteRequest", ("timeseries", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


def encode(series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]) -> bytes:
    """A snappy-compressed WriteRequest of these series (labels sorted by name, as the spec
    requires; samples oldest first)."""
    request = WriteRequest()
    for labels, points in series.items():
        ts = request.timeseries.add()
        for name, text in sorted(labels):
            ts.labels.add(name=name, value=text)
        for t_ms, value in sorted(points):
            ts.samples.add(value=value, timestamp=t_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


class RemoteWriter:
    def __init__(self, monitoring: Monitoring) -> None:
        self._monitoring = monitoring
        self._config = monitoring.config
        self._wait_s = self._config.remote_write_interval_s  # doubled while sends fail
        self._loop = Periodic(
            "metrics-remote-write", "remote-write", lambda: self._wait_s, self._send_or_back_off, join_s=35
        )
        self._slugs: dict[str, str] = {}
        self._client = httpx.Client(timeout=30.0)
        self.sent = 0  # samples accepted by the receiver
        self.dropped = 0  # samples refused for good (4xx) or trimmed from a full outbox
        self.failures = 0  # sends to retry (5xx, 429, connection errors)

    @property
    def url(self) -> str:
        return self._config.remote_write_url

    def start(self) -> None:
        if self.url:
            self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def close(self) -> None:
        self._client.close()

    def _send_or_back_off(self) -> float:
        interval = self._config.remote_write_interval_s
        try:
            self.send_pending()
            self._wait_s = interval
        except _Retry as exc:
            self.failures += 1
            self._wait_s = min(MAX_BACKOFF_S, max(self._wait_s * 2, interval))
            log.warning("remote-write failed; retrying", extra={"error": str(exc), "retry_in_s": self._wait_s})
        except Exception:
            log.exception("remote-write failed; retrying")
            self._wait_s = min(MAX_BACKOFF_S, max(self._wait_s * 2, interval))
        return self._wait_s

    def send_pending(self) -> int:
        """Send the outbox until it is empty (or a send fails: `_Retry`); the samples sent."""
        backend = self._monitoring.metrics.backend
        total = 0
        with backend.outbox_turn() as mine:
            if not mine:
                return 0
            trimmed = backend.outbox_trim(OUTBOX_LIMIT)
            if trimmed:
                self.dropped += trimmed
                log.warning("remote-write outbox full; oldest samples dropped", extra={"dropped": trimmed})
            while not self._loop.stopping:
                rows, through = backend.outbox_take(BATCH)
                if not through:
                    break
                if rows:
                    total += self._send(rows)
                backend.outbox_ack(through)
        return total

    def _project_label(self, project_id: str) -> str:
        slug = self._slugs.get(project_id)
        if slug is None:
            db = self._monitoring.db
            if db is not None:
                with db.session() as session:
                    slug = session.scalar(select(Project.slug).where(Project.id == project_id))
            slug = self._slugs[project_id] = slug or project_id
        return slug

    def _send(self, rows: list[OutboxRow]) -> int:
        series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = defaultdict(list)
        for _seq, project_id, labels_json, t_ms, value in rows:
            labels: dict[str, str] = json.loads(labels_json)
            if "project" in labels:
                labels["exported_project"] = labels["project"]
            labels["project"] = self._project_label(project_id)
            series[tuple(labels.items())].append((t_ms, value))
        body = encode(series)
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": f"codeforge/{__version__}",
        }
        token = self._config.remote_write_token
        if token is not None and token.get_secret_value():
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retry(f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            self.dropped += len(rows)
            log.warning(
                "remote-write refused samples; dropped",
                extra={"status": response.status_code, "dropped": len(rows), "error": response.text[:300]},
            )
            return 0
        self.sent += len(rows)
        return len(rows)


class _Retry(Exception):
    pass
