"""Environment variables and secrets of a project.

Other capabilities put values here too (a database's connection URL) through
`put_variable` and `remove_variable`.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

from dotenv.parser import parse_stream
from sqlalchemy import bindparam, select

from codeforge import catalog
from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import new_id, upsert, utcnow
from codeforge.platform.env.models import EnvVariableRow
from codeforge.platform.registry import implements

__all__ = ["get_value", "has_variable", "put_variable", "remove_variable"]

_NAME = re.compile(catalog.env.ENV_NAME_PATTERN)


# Statements built once, with their values bound per call: building a SQLAlchemy expression
# costs more than running it on SQLite, and env.list runs on every editor refresh.
_ONE = select(EnvVariableRow).where(
    EnvVariableRow.project_id == bindparam("project_id"), EnvVariableRow.name == bindparam("name")
)
_ALL = select(EnvVariableRow).where(EnvVariableRow.project_id == bindparam("project_id")).order_by(EnvVariableRow.name)


def _row(ctx: Context, project: Project, name: str) -> EnvVariableRow | None:
    return ctx.session.scalar(_ONE, {"project_id": project.id, "name": name})


@lru_cache(maxsize=8192)
def _listed_value(cipher: Cipher, token: str) -> str:
    """The plain text of a non-secret value, remembered: a Fernet decryption (about 25 µs)
    per variable made env.list of a few dozen variables cost more than everything else in
    the request together. A token always decrypts to the same text (its IV is random, the
    text fixed), so the memo is never stale; secret values never go through it."""
    return cipher.decrypt(token)


def _out(ctx: Context, row: EnvVariableRow, plain: str | None = None) -> catalog.env.EnvVariable:
    if not row.secret and plain is None:
        plain = _listed_value(ctx.cipher, row.value_encrypted)
    return catalog.env.EnvVariable(
        name=row.name,
        secret=row.secret,
        value=None if row.secret else plain,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _missing(project: Project, name: str) -> NotFound:
    return NotFound(
        f"project {project.slug!r} has no variable {name!r}",
        fix="list them with `codeforge env list`",
    )


_KEY = ("project_id", "name")
_UPDATED = ("secret", "value_encrypted", "updated_at", "updated_by")


def put_variable(ctx: Context, project: Project, name: str, value: str, *, secret: bool) -> EnvVariableRow:
    """Create or replace a variable in one statement: of concurrent first writes of one name,
    each succeeds and the last one wins (select-then-insert made all but one a 500)."""
    ctx.session.flush()  # pending changes of this unit of work go first, in order
    row = {
        "id": new_id(),
        "project_id": project.id,
        "name": name,
        "secret": secret,
        "value_encrypted": ctx.cipher.encrypt(value),
        "updated_at": utcnow(),
        "updated_by": ctx.actor.username,
    }
    stmt = upsert(ctx.session, EnvVariableRow, key=_KEY, update=_UPDATED).returning(EnvVariableRow)
    return ctx.session.scalars(stmt, [row], execution_options={"populate_existing": True}).one()


def has_variable(ctx: Context, project: Project, name: str) -> bool:
    return _row(ctx, project, name) is not None


def remove_variable(ctx: Context, project: Project, name: str) -> bool:
    row = _row(ctx, project, name)
    if row is None:
        return False
    ctx.session.delete(row)
    ctx.session.flush()
    return True


def get_value(ctx: Context, project: Project, name: str) -> str:
    row = _row(ctx, project, name)
    if row is None:
        raise _missing(project, name)
    return ctx.cipher.decrypt(row.value_encrypted)


@implements(catalog.env.SET)
def set_variable(ctx: Context, data: catalog.env.EnvSetInput) -> catalog.env.EnvVariable:
    row = put_variable(ctx, ctx.require_project(), data.name, data.value, secret=data.secret)
    return _out(ctx, row, plain=data.value)


@implements(catalog.env.LIST)
def list_variables(ctx: Context, data: catalog.env.EnvListInput) -> catalog.env.EnvList:
    rows = ctx.session.scalars(_ALL, {"project_id": ctx.require_project().id})
    return catalog.env.EnvList(items=[_out(ctx, r) for r in rows])


@implements(catalog.env.UNSET)
def unset_variable(ctx: Context, data: catalog.env.EnvNameInput) -> catalog.env.EnvUnsetResult:
    project = ctx.require_project()
    if not remove_variable(ctx, project, data.name):
        raise _missing(project, data.name)
    return catalog.env.EnvUnsetResult(name=data.name, removed=True)


@implements(catalog.env.REVEAL)
def reveal_variable(ctx: Context, data: catalog.env.EnvNameInput) -> catalog.env.EnvValue:
    return catalog.env.EnvValue(name=data.name, value=get_value(ctx, ctx.require_project(), data.name))


def parse_dotenv(content: str) -> list[tuple[str, str]]:
    """NAME=value pairs of a .env text; every bad line is reported, none is skipped silently."""
    pairs: list[tuple[str, str]] = []
    problems: list[FieldProblem] = []
    for binding in parse_stream(io.StringIO(content)):
        original = binding.original.string
        line = binding.original.line + len(original) - len(original.lstrip("\n"))
        if binding.error:
            problems.append(FieldProblem(f"content line {line}", "cannot be parsed", "write it as NAME=value"))
        elif binding.key is None:
            continue  # comment or blank line
        elif not _NAME.match(binding.key):
            problems.append(
                FieldProblem(f"content line {line}", "is not a valid variable name", "use letters, digits and _")
            )
        elif binding.value is None:
            problems.append(FieldProblem(f"content line {line}", "has no value", f"write it as {binding.key}=value"))
        else:
            pairs.append((binding.key, binding.value))
    if problems:
        raise BadInput(f"the .env content has {len(problems)} bad line(s); nothing was imported", errors=problems[:20])
    return pairs


@implements(catalog.env.IMPORT)
def import_variables(ctx: Context, data: catalog.env.EnvImportInput) -> catalog.env.EnvImportResult:
    """Validates and encrypts entry by entry (reporting progress), then writes all at once:
    a cancelled or failed import changes nothing."""
    project = ctx.require_project()
    job = ctx.job
    pairs = parse_dotenv(data.content)
    existing = set(ctx.session.scalars(select(EnvVariableRow.name).where(EnvVariableRow.project_id == project.id)))
    prepared: dict[str, str] = {}
    skipped = 0
    total = len(pairs)
    for i, (name, value) in enumerate(pairs, start=1):
        if job:
            job.check_cancelled()
        if name in existing and not data.overwrite:
            skipped += 1
            continue
        prepared[name] = ctx.cipher.encrypt(value)
        if job:
            job.progress(i / total, f"prepared {name} ({i}/{total})")
    if job:
        job.check_cancelled()
        job.log(f"writing {len(prepared)} variable(s), skipped {skipped}")
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "project_id": project.id,
            "name": name,
            "secret": data.secret,
            "value_encrypted": encrypted,
            "updated_at": now,
            "updated_by": ctx.actor.username,
        }
        for name, encrypted in prepared.items()
    ]
    if rows:  # one upsert: a variable set meanwhile is replaced (or kept, without overwrite), never a 500
        ctx.session.flush()
        ctx.session.execute(
            upsert(ctx.session, EnvVariableRow, key=_KEY, update=_UPDATED if data.overwrite else ()), rows
        )
    return catalog.env.EnvImportResult(imported=len(prepared), skipped=skipped, names=sorted(prepared)[:1000])
