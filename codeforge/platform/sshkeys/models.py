"""A member's SSH public keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codeforge.platform.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["SshKeyRow"]


class SshKeyRow(Base):
    __tablename__ = "ssh_keys"
    # A name and a key appear once per member; the same key may belong to two members (it
    # grants nothing by itself: the tunnel's platform token says whose keys are checked).
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_ssh_keys_user_id_name"),
        UniqueConstraint("user_id", "fingerprint", name="uq_ssh_keys_user_id_fingerprint"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_type: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(100))
    # "type base64", without the comment: the key as the SSH server compares it.
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
