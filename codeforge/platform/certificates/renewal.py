"""Automatic renewal (docs/certificates.md, "Renewal"): a background service that, every
CODEFORGE_ACME_RENEW_INTERVAL_S,

- writes each certificate's time to expiry into monitoring's metrics store, as the gauge
  `codeforge_certificate_expiry_seconds{certificate, challenge}` (and
  `codeforge_certificate_renewal_failures`), so alert rules and dashboards see it;
- renews the certificates within CODEFORGE_ACME_RENEW_DAYS of expiry (30 by default), one
  replica each (a claim on the row, with a lease);
- on a failure keeps the old certificate, records why, tries again later (doubling the wait
  from CODEFORGE_ACME_RETRY_AFTER_S, at most a day), and tells people through monitoring's
  notifier (the editors' feed and the project's alert channels): at the first failure — weeks
  before expiry — and once a day after while it keeps failing; a success after failures says
  so too."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from codeforge.platform.auth.models import Project
from codeforge.platform.certificates.access import days_left
from codeforge.platform.certificates.issuance import BOOT, Progress, check_names, obtain, store_renewal
from codeforge.platform.certificates.models import Certificate
from codeforge.platform.certificates.settings import acme_settings
from codeforge.platform.db import utcnow
from codeforge.platform.manifest import Runtime

__all__ = ["EXPIRY_METRIC", "FAILURES_METRIC", "RenewalOutcome", "Renewer"]

log = logging.getLogger("codeforge.certificates.renewal")

EXPIRY_METRIC = "codeforge_certificate_expiry_seconds"
FAILURES_METRIC = "codeforge_certificate_renewal_failures"
CLAIM_S = 900.0
MAX_RETRY_S = 86400.0
NOTIFY_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class RenewalOutcome:
    name: str
    project_id: str
    renewed: bool
    error: str = ""


class Renewer:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.owner = f"{rt.settings.resolved_instance_id}/{BOOT}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="certificates-renewal", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        # The first check waits one interval: monitoring's notifier starts after this service.
        while not self._stop.wait(acme_settings().renew_interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("certificate renewal check failed")

    # ---- one check ------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> list[RenewalOutcome]:
        """Write the gauges, then renew what is due at `now` (default: the clock)."""
        at = now or utcnow()
        self.write_gauges(at)
        outcomes = []
        for cert_id in self._due(at):
            if self._stop.is_set():
                break
            if self._claim(cert_id, at):
                outcomes.append(self._renew(cert_id, at))
        if outcomes:
            self.write_gauges(utcnow() if now is None else at)
        return outcomes

    def _due(self, at: datetime) -> list[str]:
        horizon = at + timedelta(days=acme_settings().renew_days)
        with self.rt.db.session() as session:
            return list(
                session.scalars(
                    select(Certificate.id)
                    .where(
                        Certificate.not_after <= horizon,
                        or_(Certificate.next_attempt_at.is_(None), Certificate.next_attempt_at <= at),
                        or_(Certificate.claim_until.is_(None), Certificate.claim_until < at),
                    )
                    .order_by(Certificate.not_after)
                )
            )

    def _claim(self, cert_id: str, at: datetime) -> bool:
        """One replica renews a certificate: the one whose update found it unclaimed."""
        with self.rt.db.session() as session:
            done = session.execute(
                update(Certificate)
                .where(Certificate.id == cert_id, or_(Certificate.claim_until.is_(None), Certificate.claim_until < at))
                .values(claimed_by=self.owner, claim_until=utcnow() + timedelta(seconds=CLAIM_S))
            )
            return bool(getattr(done, "rowcount", 0) == 1)

    def _renew(self, cert_id: str, at: datetime) -> RenewalOutcome:
        db, cipher, settings = self.rt.db, self.rt.cipher, self.rt.settings
        acme = acme_settings()
        with db.session() as session:
            row = session.get(Certificate, cert_id)
            assert row is not None
            project = session.get(Project, row.project_id)
            name, names, challenge, project_id = row.name, list(row.names), row.challenge, row.project_id
            slug = project.slug if project is not None else "?"
        log.info("renewing certificate", extra={"certificate": name, "project": slug})
        try:
            with db.session() as session:
                check_names(session, project_id, slug, names, challenge)
            chain, key_pem = obtain(
                db,
                cipher,
                settings,
                acme,
                project_id=project_id,
                names=names,
                challenge=challenge,
                progress=Progress(check_cancelled=self._check_stop),
            )
        except Exception as exc:
            error = str(getattr(exc, "message", "") or f"{type(exc).__name__}: {exc}")[:2000]
            self._failed(cert_id, at, error)
            log.warning("certificate not renewed", extra={"certificate": name, "project": slug, "error": error})
            return RenewalOutcome(name, project_id, renewed=False, error=error)
        with db.session() as session:
            row = session.get(Certificate, cert_id)
            if row is None:  # deleted meanwhile
                return RenewalOutcome(name, project_id, renewed=False, error="deleted meanwhile")
            failures = row.renewal_failures
            store_renewal(session, row, cipher, chain, key_pem)
            row.claimed_by, row.claim_until = "", None
            left = days_left(row)
        log.info("certificate renewed", extra={"certificate": name, "project": slug})
        if failures:
            self._notify(
                project_id,
                kind="certificate.renewed",
                title=f"Certificate {name} renewed after {failures} failed attempt(s)",
                message=f"It now expires in {left} days.",
                name=name,
                days=left,
            )
        return RenewalOutcome(name, project_id, renewed=True)

    def _check_stop(self) -> None:
        if self._stop.is_set():
            from codeforge.platform.jobs.runner import JobCancelled

            raise JobCancelled()

    def _failed(self, cert_id: str, at: datetime, error: str) -> None:
        retry = acme_settings().retry_after_s
        with self.rt.db.session() as session:
            row = session.get(Certificate, cert_id)
            if row is None:
                return
            row.renewal_failures += 1
            row.renewal_error = error
            row.next_attempt_at = at + timedelta(seconds=min(retry * 2 ** (row.renewal_failures - 1), MAX_RETRY_S))
            row.claimed_by, row.claim_until = "", None
            due = row.notified_at is None or row.notified_at + NOTIFY_EVERY <= at
            name, project_id, left, failures = row.name, row.project_id, days_left(row, at), row.renewal_failures
        if due and self._notify(
            project_id,
            kind="certificate.renewal_failed",
            title=f"Certificate {name} could not be renewed: it expires in {left} days",
            message=f"Renewal failed {failures} time(s) in a row: {error}",
            name=name,
            days=left,
        ):
            with self.rt.db.session() as session:
                session.execute(update(Certificate).where(Certificate.id == cert_id).values(notified_at=at))

    def _notify(self, project_id: str, *, kind: str, title: str, message: str, name: str, days: int) -> bool:
        """Through monitoring's notifier (feed and channels); False when it cannot take it yet."""
        from codeforge.platform.monitoring.alerts.notify import Notification
        from codeforge.platform.monitoring.runtime import monitoring_for

        monitoring = monitoring_for(self.rt.settings)
        if monitoring.db is None:  # monitoring not started (yet): told at the next check
            return False
        monitoring.notifier.notify(
            project_id,
            Notification(
                kind=kind,
                title=title,
                message=message[:1000],
                pane="certificates",
                item=name,
                labels={"certificate": name, "days_left": str(days)},
            ),
        )
        return True

    def write_gauges(self, at: datetime) -> None:
        from codeforge.platform.monitoring.runtime import monitoring_for

        with self.rt.db.session() as session:
            rows = [
                (r.project_id, r.name, r.challenge, r.not_after, r.renewal_failures)
                for r in session.scalars(select(Certificate))
            ]
        if not rows:
            return
        t_ms = int(at.timestamp() * 1000)
        by_project: dict[str, list[tuple[dict[str, str], int, float]]] = {}
        for project_id, name, challenge, not_after, failures in rows:
            labels = {"certificate": name, "challenge": challenge}
            samples = by_project.setdefault(project_id, [])
            samples.append(({"__name__": EXPIRY_METRIC, **labels}, t_ms, (not_after - at).total_seconds()))
            samples.append(({"__name__": FAILURES_METRIC, **labels}, t_ms, float(failures)))
        store = monitoring_for(self.rt.settings).metrics
        for project_id, samples in by_project.items():
            try:
                store.write(project_id, samples)
            except Exception:
                log.exception("certificate gauges not written", extra={"project_id": project_id})
