"""Environment variables and secrets of a project: a shared value per name (`all`), which each
deployment environment (production, preview, development) may override with its own.

Other capabilities put values here too (a database's connection URL) through
`put_variable` and `remove_variable`, and read what an environment gets with `effective`
(deployments: `effective` before a release starts, `diff` to show what a deploy changes).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from dotenv.parser import parse_stream
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.env import ENVIRONMENTS, EnvEnvironment
from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.platform.auth.models import Project
from codeforge.platform.context import Context
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import new_id, upsert, utcnow
from codeforge.platform.env.models import EnvVariableRow
from codeforge.platform.registry import implements

__all__ = [
    "ALL",
    "Resolved",
    "diff",
    "effective",
    "get_value",
    "has_variable",
    "put_variable",
    "remove_variable",
    "resolve",
    "secret_names",
]

ALL = EnvEnvironment.ALL.value
_NAME = re.compile(catalog.env.ENV_NAME_PATTERN)


# Statements built once, with their values bound per call: building a SQLAlchemy expression
# costs more than running it on SQLite, and env.list runs on every editor refresh.
_ONE = select(EnvVariableRow).where(
    EnvVariableRow.project_id == bindparam("project_id"),
    EnvVariableRow.name == bindparam("name"),
    EnvVariableRow.environment == bindparam("environment"),
)
_ALL = select(EnvVariableRow).where(EnvVariableRow.project_id == bindparam("project_id")).order_by(EnvVariableRow.name)
# An environment's rows and the shared ones: what it gets.
_SEEN_BY = (
    select(EnvVariableRow)
    .where(
        EnvVariableRow.project_id == bindparam("project_id"),
        EnvVariableRow.environment.in_([ALL, bindparam("environment")]),
    )
    .order_by(EnvVariableRow.name)
)


def environment_of(value: str | EnvEnvironment | None) -> str:
    """The stored form of an environment (None is `all`); BadInput for anything else."""
    if value is None:
        return ALL
    try:
        return EnvEnvironment(value).value
    except ValueError:
        raise BadInput(
            f"{value!r} is not an environment",
            errors=[FieldProblem("environment", "is not an environment", f"use one of {_choices()}")],
        ) from None


def _choices() -> str:
    return ", ".join(e.value for e in EnvEnvironment)


def _row(session: Session, project_id: str, name: str, environment: str) -> EnvVariableRow | None:
    return session.scalar(_ONE, {"project_id": project_id, "name": name, "environment": environment})


def _seen_by(session: Session, project_id: str, environment: str) -> dict[str, EnvVariableRow]:
    """Name -> the row whose value `environment` gets: its own, else the shared one."""
    if environment == ALL:
        rows: Iterable[EnvVariableRow] = session.scalars(_ALL, {"project_id": project_id})
        return {r.name: r for r in rows if r.environment == ALL}
    out: dict[str, EnvVariableRow] = {}
    for row in session.scalars(_SEEN_BY, {"project_id": project_id, "environment": environment}):
        if row.environment != ALL or row.name not in out:
            out[row.name] = row
    return out


@lru_cache(maxsize=8192)
def _listed_value(cipher: Cipher, token: str) -> str:
    """The plain text of a non-secret value, remembered: a Fernet decryption (about 25 µs)
    per variable made env.list of a few dozen variables cost more than everything else in
    the request together. A token always decrypts to the same text (its IV is random, the
    text fixed), so the memo is never stale; secret values never go through it."""
    return cipher.decrypt(token)


def _plain(cipher: Cipher, row: EnvVariableRow) -> str:
    return cipher.decrypt(row.value_encrypted) if row.secret else _listed_value(cipher, row.value_encrypted)


# -- for other capabilities --------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A value an environment gets, whether it is secret, and where it comes from (`all` or
    the environment's own)."""

    value: str
    secret: bool
    environment: str


def resolve(session: Session, cipher: Cipher, project_id: str, environment: str) -> dict[str, Resolved]:
    """Every variable `environment` gets (its own values over the shared ones), decrypted,
    with where each comes from. `environment` is `all` (the shared values alone), production,
    preview or development."""
    rows = _seen_by(session, project_id, environment_of(environment))
    return {n: Resolved(_plain(cipher, r), r.secret, r.environment) for n, r in rows.items()}


def effective(session: Session, cipher: Cipher, project_id: str, environment: str) -> dict[str, str]:
    """Name -> value of every variable `environment` gets: its own values over the shared
    ones; secrets decrypted (for the processes of a release, never for display)."""
    return {n: r.value for n, r in resolve(session, cipher, project_id, environment).items()}


def secret_names(session: Session, project_id: str, environment: str) -> frozenset[str]:
    """The names whose value `environment` gets is a secret (nothing decrypted)."""
    return frozenset(n for n, r in _seen_by(session, project_id, environment_of(environment)).items() if r.secret)


_SHOWN = 120  # characters of a plain value in a diff's text


def _quoted(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def diff(
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    secret: Collection[str],
    environment: str = "",
    against: str = "",
    unchecked: Collection[str] = (),
) -> catalog.env.EnvDiff:
    """What changes when a set of variables `before` becomes `after` (name -> value each).

    Names in `secret` never show a value: a change says "changed" and no more. Pass every name
    that is secret on either side (`secret_names` of each environment involved, and the names
    a deployed release held as secrets). A removed name never shows its value either. Names in
    `unchecked` are not compared (listed as such). `environment` and `against` only label the
    result."""
    hidden = set(secret)
    skip = set(unchecked)

    def shown(name: str, value: str) -> str | None:
        return None if name in hidden else value

    added = [
        catalog.env.EnvChange(name=n, change="added", secret=n in hidden, after=shown(n, after[n]))
        for n in sorted(after.keys() - before.keys())
    ]
    removed = [
        catalog.env.EnvChange(name=n, change="removed", secret=n in hidden)
        for n in sorted(before.keys() - after.keys())
    ]
    changed: list[catalog.env.EnvChange] = []
    unchanged: list[str] = []
    for n in sorted(before.keys() & after.keys()):
        if n in skip:
            continue
        if before[n] == after[n]:
            unchanged.append(n)
        else:
            changed.append(
                catalog.env.EnvChange(
                    name=n, change="changed", secret=n in hidden, before=shown(n, before[n]), after=shown(n, after[n])
                )
            )
    checked_out = sorted(skip & before.keys() & after.keys())
    lines = [
        f"{environment or 'before'} → {against or 'after'}: {len(added)} added, {len(removed)} removed, "
        f"{len(changed)} changed, {len(unchanged)} unchanged"
        + (f", {len(checked_out)} secret(s) not compared" if checked_out else "")
    ]
    for c in added:
        lines.append(f"+ {c.name}" + (" (secret)" if c.after is None else f" = {_quoted(c.after)}"))
    for c in removed:
        lines.append(f"- {c.name}" + (" (secret)" if c.secret else ""))
    for c in changed:
        if c.before is None or c.after is None:
            lines.append(f"~ {c.name} (secret): changed")
        else:
            lines.append(f"~ {c.name}: {_quoted(c.before)} → {_quoted(c.after)}")
    for n in checked_out:
        lines.append(f"? {n} (secret): not compared, needs the reveal permission")
    return catalog.env.EnvDiff(
        environment=environment,
        against=against,
        added=added,
        removed=removed,
        changed=changed,
        unchanged=unchanged,
        unchecked=checked_out,
        text="\n".join(lines),
    )


# -- the operations ------------------------------------------------------------------------------


def _out(ctx: Context, row: EnvVariableRow, plain: str | None = None) -> catalog.env.EnvVariable:
    if not row.secret and plain is None:
        plain = _listed_value(ctx.cipher, row.value_encrypted)
    return catalog.env.EnvVariable(
        name=row.name,
        secret=row.secret,
        value=None if row.secret else plain,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        environment=EnvEnvironment(row.environment),
    )


def _missing(project: Project, name: str, environment: str) -> NotFound:
    if environment == ALL:
        return NotFound(f"project {project.slug!r} has no variable {name!r}", fix="list them with `codeforge env list`")
    return NotFound(
        f"project {project.slug!r} has no variable {name!r} of {environment}'s own",
        fix=f"list them with `codeforge env list --environment {environment}`",
    )


_KEY = ("project_id", "name", "environment")
_UPDATED = ("secret", "value_encrypted", "updated_at", "updated_by")


def put_variable(
    ctx: Context, project: Project, name: str, value: str, *, secret: bool, environment: str = ALL
) -> EnvVariableRow:
    """Create or replace a variable (the shared value, or an environment's own) in one
    statement: of concurrent first writes of one name, each succeeds and the last one wins
    (select-then-insert made all but one a 500)."""
    ctx.session.flush()  # pending changes of this unit of work go first, in order
    row = {
        "id": new_id(),
        "project_id": project.id,
        "name": name,
        "environment": environment_of(environment),
        "secret": secret,
        "value_encrypted": ctx.cipher.encrypt(value),
        "updated_at": utcnow(),
        "updated_by": ctx.actor.username,
    }
    stmt = upsert(ctx.session, EnvVariableRow, key=_KEY, update=_UPDATED).returning(EnvVariableRow)
    return ctx.session.scalars(stmt, [row], execution_options={"populate_existing": True}).one()


def has_variable(ctx: Context, project: Project, name: str, environment: str = ALL) -> bool:
    """Whether `environment` has a value of its own for `name` (`all`: a shared value)."""
    return _row(ctx.session, project.id, name, environment_of(environment)) is not None


def remove_variable(ctx: Context, project: Project, name: str, environment: str = ALL) -> bool:
    """Remove the shared value (`all`) or an environment's own; the others stay."""
    row = _row(ctx.session, project.id, name, environment_of(environment))
    if row is None:
        return False
    ctx.session.delete(row)
    ctx.session.flush()
    return True


def get_value(ctx: Context, project: Project, name: str, environment: str = ALL) -> str:
    """The value `environment` gets for `name` (its own, else the shared one), decrypted."""
    return _revealed(ctx, project, name, environment_of(environment))[0]


def _revealed(ctx: Context, project: Project, name: str, environment: str) -> tuple[str, str]:
    row = _row(ctx.session, project.id, name, environment)
    if row is None and environment != ALL:
        row = _row(ctx.session, project.id, name, ALL)
    if row is None:
        raise _missing(project, name, ALL)
    return ctx.cipher.decrypt(row.value_encrypted), row.environment


@implements(catalog.env.SET)
def set_variable(ctx: Context, data: catalog.env.EnvSetInput) -> catalog.env.EnvVariable:
    row = put_variable(ctx, ctx.require_project(), data.name, data.value, secret=data.secret, environment=data.scope)
    return _out(ctx, row, plain=data.value)


@implements(catalog.env.LIST)
def list_variables(ctx: Context, data: catalog.env.EnvListInput) -> catalog.env.EnvList:
    project = ctx.require_project()
    if data.scope != EnvEnvironment.ALL:
        rows = _seen_by(ctx.session, project.id, data.scope.value)
        return catalog.env.EnvList(items=[_out(ctx, r) for r in rows.values()], environment=data.scope)
    shared: list[EnvVariableRow] = []
    overrides: dict[str, list[str]] = {}
    for row in ctx.session.scalars(_ALL, {"project_id": project.id}):
        if row.environment == ALL:
            shared.append(row)
        else:
            overrides.setdefault(row.environment, []).append(row.name)
    return catalog.env.EnvList(
        items=[_out(ctx, r) for r in shared],
        overrides={e.value: overrides[e.value] for e in ENVIRONMENTS if e.value in overrides},
    )


@implements(catalog.env.UNSET)
def unset_variable(ctx: Context, data: catalog.env.EnvNameInput) -> catalog.env.EnvUnsetResult:
    project = ctx.require_project()
    if not remove_variable(ctx, project, data.name, data.scope):
        raise _missing(project, data.name, data.scope.value)
    return catalog.env.EnvUnsetResult(name=data.name, removed=True)


@implements(catalog.env.REVEAL)
def reveal_variable(ctx: Context, data: catalog.env.EnvRevealInput) -> catalog.env.EnvValue:
    value, source = _revealed(ctx, ctx.require_project(), data.name, data.scope.value)
    return catalog.env.EnvValue(name=data.name, value=value, environment=EnvEnvironment(source))


def parse_dotenv(content: str, *, undone: str = "nothing was imported") -> list[tuple[str, str]]:
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
        raise BadInput(f"the .env content has {len(problems)} bad line(s); {undone}", errors=problems[:20])
    return pairs


@implements(catalog.env.IMPORT)
def import_variables(ctx: Context, data: catalog.env.EnvImportInput) -> catalog.env.EnvImportResult:
    """Validates and encrypts entry by entry (reporting progress), then writes all at once:
    a cancelled or failed import changes nothing."""
    project = ctx.require_project()
    environment = data.scope.value
    job = ctx.job
    pairs = parse_dotenv(data.content)
    existing = set(
        ctx.session.scalars(
            select(EnvVariableRow.name).where(
                EnvVariableRow.project_id == project.id, EnvVariableRow.environment == environment
            )
        )
    )
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
            "environment": environment,
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


@implements(catalog.env.DIFF)
def diff_variables(ctx: Context, data: catalog.env.EnvDiffInput) -> catalog.env.EnvDiff:
    """An environment's variables now against another environment's or a proposed set. Secret
    values are compared, never shown; a caller who may not reveal secrets does not learn
    whether a value they propose equals a secret (that would confirm a guess)."""
    if (data.against is None) == (data.content is None):
        fix = "give `against` (another environment) or `content` (a .env file), not both"
        raise BadInput(
            "say what to compare with",
            errors=[FieldProblem("against", "give one of against and content", fix)],
        )
    if data.against == data.environment:
        raise BadInput(
            f"{data.environment.value} compared with itself has no difference",
            errors=[FieldProblem("against", "is the same environment", "pick another environment")],
        )
    if data.partial and data.content is None:
        raise BadInput(
            "`partial` compares a proposed set only",
            errors=[FieldProblem("partial", "needs `content`", "give `content`, or leave `partial` out")],
        )
    project = ctx.require_project()
    mine = resolve(ctx.session, ctx.cipher, project.id, data.environment.value)
    before = {n: r.value for n, r in mine.items()}
    hidden = {n for n, r in mine.items() if r.secret}
    unchecked: set[str] = set()
    if data.against is not None:
        theirs = resolve(ctx.session, ctx.cipher, project.id, data.against.value)
        after = {n: r.value for n, r in theirs.items()}
        hidden |= {n for n, r in theirs.items() if r.secret}
        against = data.against.value
    else:
        proposed = dict(parse_dotenv(data.content or "", undone="nothing was compared"))
        after = {**before, **proposed} if data.partial else proposed
        if data.secret:
            hidden |= proposed.keys()
        if not ctx.actor.can(Permission.REVEAL):
            unchecked = {n for n in proposed if n in hidden and n in before}
        against = "proposed"
    return diff(before, after, secret=hidden, environment=data.environment.value, against=against, unchecked=unchecked)
