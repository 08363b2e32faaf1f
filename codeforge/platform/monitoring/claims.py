"""Turns shared between replicas: a row's next-turn column is moved past now by an UPDATE
that matches only while the turn is due, so exactly one replica (or thread) takes each turn
of an alert rule's evaluation or a target's scrape."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import InstrumentedAttribute

from codeforge.platform.db import Database

__all__ = ["claim_turn"]


def claim_turn(
    db: Database, next_turn: InstrumentedAttribute[Any], row_id: str, interval_s: float, now: datetime
) -> bool:
    """True when this caller takes the row's turn. The next turn is set a little under the
    interval ahead, so jitter in the loops' wake-ups never skips one."""
    model = next_turn.class_
    with db.session() as session:
        claimed = session.execute(
            update(model)
            .where(model.id == row_id, or_(next_turn.is_(None), next_turn <= now))
            .values({next_turn.key: now + timedelta(seconds=interval_s * 0.9)})
        )
        return bool(getattr(claimed, "rowcount", 0) == 1)
