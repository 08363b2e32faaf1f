"""Delivery to one channel: a webhook (Alertmanager's webhook JSON, version 4, for alerts; the
same envelope with `kind`, `title` and `message` for other notices) or email over SMTP. Each
raises `DeliveryError` with a message for people; retries with back-off are the caller's
(`deliver`), so `monitoring.test_channel` can try exactly once."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx

from codeforge.platform.monitoring.settings import MonitoringSettings

__all__ = ["Channel", "DeliveryError", "deliver", "email_body", "send_email", "send_webhook", "webhook_payload"]

WEBHOOK_TIMEOUT_S = 10.0
SMTP_TIMEOUT_S = 10.0


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Channel:
    """A channel as delivery needs it (its token decrypted, never stored or shown)."""

    id: str
    project_id: str
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    token: str = ""


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_payload(notification: Any, receiver: str, external_url: str, project: str) -> dict[str, Any]:
    if notification.alerts:
        alerts = notification.alerts
        return {
            "version": "4",
            "groupKey": notification.group_key,
            "truncatedAlerts": 0,
            "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
            "receiver": receiver,
            "groupLabels": dict(notification.group_labels),
            "commonLabels": _common([a["labels"] for a in alerts]),
            "commonAnnotations": _common([a["annotations"] for a in alerts]),
            "externalURL": external_url,
            "alerts": alerts,
        }
    return {
        "version": "4",
        "kind": notification.kind,
        "status": "firing",
        "receiver": receiver,
        "project": project,
        "title": notification.title,
        "message": notification.message,
        "labels": dict(notification.labels),
        "pane": notification.pane,
        "item": notification.item,
        "externalURL": external_url,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def send_webhook(channel: Channel, payload: dict[str, Any]) -> None:
    url = str(channel.config.get("url", ""))
    timeout = float(channel.config.get("timeout_s") or WEBHOOK_TIMEOUT_S)
    headers = {"User-Agent": "CodeForge-Alertmanager/4"}
    if channel.token:
        headers["Authorization"] = f"Bearer {channel.token}"
    try:
        response = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise DeliveryError(f"webhook {url} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {url} could not be reached: {exc}") from None
    if response.status_code >= 300:
        retry = response.status_code >= 500 or response.status_code == 429
        raise DeliveryError(f"webhook {url} answered {response.status_code}: {response.text[:200]}", retry=retry)


def email_body(notification: Any, project: str, external_url: str) -> str:
    lines = [notification.title, "", notification.message, ""] if notification.message else [notification.title, ""]
    for alert in notification.alerts:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
        lines.append(f"[{alert['status'].upper()}] {labels} (since {alert['startsAt']})")
        for name, text in sorted(alert["annotations"].items()):
            lines.append(f"  {name}: {text}")
    lines += ["", f"Project {project} on {external_url}"]
    if notification.pane:
        lines.append(f"Open the {notification.pane} pane in your editor: `codeforge panes open {notification.pane}`")
    return "\n".join(lines) + "\n"


def send_email(config: MonitoringSettings, channel: Channel, subject: str, body: str) -> None:
    if not config.smtp_host:
        raise DeliveryError(
            f"email channel {channel.name!r}: no SMTP server is configured; set CODEFORGE_MONITORING_SMTP_HOST "
            "(and _PORT, _FROM, _USERNAME, _PASSWORD, _STARTTLS as needed) and restart the platform",
            retry=False,
        )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.smtp_from
    message["To"] = ", ".join(channel.config.get("to", []))
    message.set_content(body)
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if config.smtp_starttls:
                smtp.starttls()
            if config.smtp_username:
                password = config.smtp_password.get_secret_value() if config.smtp_password else ""
                smtp.login(config.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        retry = exc.smtp_code >= 400 and exc.smtp_code < 500
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(
            f"SMTP server {config.smtp_host}:{config.smtp_port} refused the email: {exc.smtp_code} {detail}",
            retry=retry,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP server {config.smtp_host}:{config.smtp_port} could not be reached: {exc}") from None


def deliver(
    config: MonitoringSettings,
    channel: Channel,
    notification: Any,
    *,
    project: str,
    external_url: str,
    attempts: int = 3,
    backoff_s: float = 0.5,
) -> None:
    """Send to one channel, retrying what may pass later (timeouts, 5xx, 4xx SMTP answers) with
    doubling waits; raises the last DeliveryError."""
    for attempt in range(1, attempts + 1):
        try:
            if channel.kind == "webhook":
                send_webhook(channel, webhook_payload(notification, channel.name, external_url, project))
            elif channel.kind == "email":
                send_email(config, channel, notification.title, email_body(notification, project, external_url))
            return
        except DeliveryError as exc:
            if not exc.retry or attempt == attempts:
                raise
            time.sleep(backoff_s * 2 ** (attempt - 1))
