"""The Notifier (part `notifier`): `notify(project_id, Notification)` queues a notice and
returns at once; its delivery thread writes it to the editor feed (always) and hands it to a
small pool that sends it to each of the project's channels (webhook, email) with retries, so
a channel that hangs delays only its own deliveries, never the alert evaluator or the error
tracker that called. Each channel's last success and last error are kept on its row."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from codeforge.platform.auth.models import Project
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import utcnow
from codeforge.platform.monitoring.alerts.channels import Channel, DeliveryError, deliver
from codeforge.platform.monitoring.alerts.feed import add_to_feed
from codeforge.platform.monitoring.alerts.models import AlertChannel

__all__ = ["Notification", "Notifier", "channel_of"]

log = logging.getLogger("codeforge.monitoring.notify")

QUEUE_LIMIT = 10_000
DELIVERY_THREADS = 4


@dataclass
class Notification:
    """A notice for people. `kind`: alert.firing, alert.resolved, error.new, error.regressed,
    test. `pane` and `item` say what an editor opens (`panes.open`). Alert notices carry the
    group's alerts as Alertmanager's webhook writes them (status, labels, annotations,
    startsAt, endsAt, generatorURL, fingerprint)."""

    kind: str
    title: str
    message: str = ""
    pane: str = ""
    item: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    group_key: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)


def channel_of(row: AlertChannel, cipher: Cipher) -> Channel:
    token = cipher.decrypt(row.secret) if row.secret else ""
    return Channel(row.id, row.project_id, row.name, row.kind, dict(row.config or {}), token)


class Notifier:
    def __init__(self, monitoring: Any) -> None:
        self.monitoring = monitoring
        self.cipher = Cipher(monitoring.settings.fernet_key())
        self.external_url = monitoring.settings.resolved_public_url
        self.dropped = 0  # notices refused because the queue was full
        self.fed = threading.Condition()  # notified after each feed row (in-process long polls wake)
        self._queue: queue.Queue[tuple[str, Notification] | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # ---- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._pool = ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="monitoring-deliver")
            self._thread = threading.Thread(target=self._run, name="monitoring-notifier", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, pool, self._thread, self._pool = self._thread, self._pool, None, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def notify(self, project_id: str, notification: Notification) -> None:
        """Queue `notification` for the project's feed and channels; never blocks."""
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait((project_id, notification))
        except queue.Full:
            self.dropped += 1
            log.warning("notification dropped: the delivery queue is full", extra={"project_id": project_id})

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            project_id, notification = item
            try:
                self._dispatch(project_id, notification)
            except Exception:
                log.exception("notification could not be dispatched", extra={"project_id": project_id})

    def _dispatch(self, project_id: str, notification: Notification) -> None:
        db = self.monitoring.db
        if db is None:
            log.warning("notification dropped: the platform's database is not set", extra={"project_id": project_id})
            return
        with db.session() as session:
            project = session.get(Project, project_id)
            if project is None:  # deleted meanwhile
                return
            add_to_feed(session, project_id, notification)
            rows = session.scalars(
                select(AlertChannel).where(AlertChannel.project_id == project_id, AlertChannel.kind != "editor")
            )
            channels = [channel_of(row, self.cipher) for row in rows]
            slug = project.slug
        with self.fed:
            self.fed.notify_all()
        pool = self._pool
        for channel in channels:
            if pool is not None:
                pool.submit(self._deliver, channel, notification, slug)

    def _deliver(self, channel: Channel, notification: Notification, project: str) -> None:
        try:
            deliver(self.monitoring.config, channel, notification, project=project, external_url=self.external_url)
        except DeliveryError as exc:
            self.record(channel.id, str(exc))
            log.warning("notification not delivered", extra={"channel": channel.name, "error": str(exc)})
        except Exception as exc:  # a bug must not kill the pool's thread silently
            self.record(channel.id, f"{type(exc).__name__}: {exc}")
            log.exception("notification delivery failed", extra={"channel": channel.name})
        else:
            self.record(channel.id, "")

    def record(self, channel_id: str, error: str) -> None:
        """Keep a delivery's outcome on the channel's row (what `monitoring.channels` shows)."""
        db = self.monitoring.db
        if db is None:
            return
        now = utcnow()
        values: dict[str, Any] = {"last_error": error, "last_error_at": now} if error else {"last_sent_at": now}
        try:
            with db.session() as session:
                session.execute(update(AlertChannel).where(AlertChannel.id == channel_id).values(**values))
        except Exception:
            log.exception("channel outcome not recorded", extra={"channel_id": channel_id})

    def deliver_now(self, channel: Channel, notification: Notification, project: str) -> str:
        """One attempt, here and now (`monitoring.test_channel`): the error, or "" when it went."""
        try:
            deliver(
                self.monitoring.config,
                channel,
                notification,
                project=project,
                external_url=self.external_url,
                attempts=1,
            )
        except DeliveryError as exc:
            return str(exc)
        return ""
