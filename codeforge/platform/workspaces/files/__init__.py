"""The workspaces' file trees (docs/workspaces.md, "Files"): one `FileStore` per volume,
copy-on-write where the volume allows it (btrfs snapshots, reflinks, overlayfs layers) and a
labelled full copy where it does not."""

from __future__ import annotations

from codeforge.platform.workspaces.files.store import COPY_LABEL, METHODS, FileStore

__all__ = ["COPY_LABEL", "METHODS", "FileStore"]
