"""Runs a project's Alembic commands in a child process (its env.py is the project's code,
which has no place inside the platform process). Driven by environment variables; prints
one JSON line. Started as `python -m codeforge.platform.databases.alembic_runner`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["main"]


def main() -> int:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    target = Path(os.environ["CODEFORGE_ALEMBIC_CONFIG"])
    action = os.environ["CODEFORGE_ALEMBIC_ACTION"]
    if target.is_file():
        cfg = Config(str(target))
        loc = cfg.get_main_option("script_location") or "alembic"
        if not Path(loc).is_absolute():
            cfg.set_main_option("script_location", str(target.parent / loc.replace("%(here)s/", "")))
    else:
        cfg = Config()
        cfg.set_main_option("script_location", str(target))
    url = os.environ.get("CODEFORGE_ALEMBIC_URL")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    script = ScriptDirectory.from_config(cfg)
    if action == "revisions":
        revs = list(reversed(list(script.walk_revisions())))  # base first
        print(json.dumps({"revisions": [{"id": r.revision, "path": r.path} for r in revs]}))
        return 0
    if action == "upgrade":
        command.upgrade(cfg, "head")
        from sqlalchemy import create_engine
        from sqlalchemy import text as sql_text

        engine = create_engine(url or "")
        with engine.connect() as conn:
            heads = [r[0] for r in conn.execute(sql_text("SELECT version_num FROM alembic_version"))]
        engine.dispose()
        applied = {r.revision for r in script.iterate_revisions(tuple(heads), "base")} if heads else set()
        print(json.dumps({"applied": sorted(applied)}))
        return 0
    print(f"unknown action {action!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
