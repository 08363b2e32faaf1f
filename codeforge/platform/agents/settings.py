"""The agents' model settings: stored per organization and per project (a project's fields
override the organization's one by one), resolved into the `Endpoint` a run uses.

The API key is encrypted with the platform's Cipher and never leaves this module except inside
an `Endpoint` handed to the model client: answers say only `key_set`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.platform.agents.models import ORG_SCOPE, AgentRun, AgentSettingsRow
from codeforge.platform.auth.models import Project
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import utcnow

if TYPE_CHECKING:
    from codeforge.platform.agents.endpoint import Endpoint

__all__ = ["DEFAULTS", "Effective", "configure", "effective", "endpoint_of", "project_spent", "settings_out"]

# What a setting is when no scope sets it.
DEFAULTS: dict[str, Any] = {
    "base_url": None,
    "model": None,
    "tools": True,
    "timeout_s": 60.0,
    "max_retries": 4,
    "prices": {},
    "run_cap_usd": None,
    "project_cap_usd": None,
    "network": False,
}
_FIELDS = tuple(DEFAULTS)
CONFIGURE_HINT = "codeforge agents configure --base-url URL --model NAME"


@dataclass
class Effective:
    """The settings a project's runs get, and where each came from."""

    values: dict[str, Any]
    sources: dict[str, str]
    api_key_enc: str | None = None
    key_source: str = "default"
    _rows: list[AgentSettingsRow] = field(default_factory=list, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.values["base_url"] and self.values["model"])


def _rows(session: Session, project: Project) -> tuple[AgentSettingsRow | None, AgentSettingsRow | None]:
    rows = session.scalars(
        select(AgentSettingsRow).where(
            AgentSettingsRow.org_id == project.org_id, AgentSettingsRow.scope_key.in_([ORG_SCOPE, project.id])
        )
    ).all()
    org = next((r for r in rows if r.scope_key == ORG_SCOPE), None)
    own = next((r for r in rows if r.scope_key == project.id), None)
    return org, own


def effective(session: Session, project: Project) -> Effective:
    org, own = _rows(session, project)
    values = dict(DEFAULTS)
    sources = dict.fromkeys(_FIELDS, "default")
    out = Effective(values, sources)
    for scope, row in (("organization", org), ("project", own)):
        if row is None:
            continue
        for key in _FIELDS:
            if key not in row.values:
                continue
            if key == "prices":  # a project's prices add to (or replace per model) the organization's
                values["prices"] = {**values["prices"], **row.values["prices"]}
            else:
                values[key] = row.values[key]
            sources[key] = scope
        if row.api_key:
            out.api_key_enc, out.key_source = row.api_key, scope
    sources["api_key"] = out.key_source
    return out


def project_spent(session: Session, project: Project) -> float:
    total = session.scalar(
        select(func.coalesce(func.sum(AgentRun.cost_usd), 0.0)).where(AgentRun.project_id == project.id)
    )
    return float(total or 0.0)


def settings_out(session: Session, project: Project, eff: Effective | None = None) -> catalog.agents.Settings:
    eff = eff or effective(session, project)
    v = eff.values
    return catalog.agents.Settings(
        project=project.slug,
        configured=eff.configured,
        base_url=v["base_url"],
        model=v["model"],
        key_set=eff.api_key_enc is not None,
        tools=v["tools"],
        timeout_s=v["timeout_s"],
        max_retries=v["max_retries"],
        prices={k: catalog.agents.ModelPrice.model_validate(p) for k, p in v["prices"].items()},
        run_cap_usd=v["run_cap_usd"],
        project_cap_usd=v["project_cap_usd"],
        network=v["network"],
        project_spent_usd=round(project_spent(session, project), 6),
        sources=eff.sources,
    )


def configure(
    session: Session, cipher: Cipher, project: Project, data: catalog.agents.ConfigureInput, actor: str
) -> None:
    """Set the given fields at the chosen scope (the rest keep theirs, or go with `reset`)."""
    scope_key = ORG_SCOPE if data.scope == "organization" else project.id
    row = session.scalar(
        select(AgentSettingsRow).where(
            AgentSettingsRow.org_id == project.org_id, AgentSettingsRow.scope_key == scope_key
        )
    )
    if row is None:
        row = AgentSettingsRow(
            org_id=project.org_id,
            project_id=None if scope_key == ORG_SCOPE else project.id,
            scope_key=scope_key,
            values={},
            updated_by=actor,
        )
        session.add(row)
    values: dict[str, Any] = {} if data.reset else dict(row.values or {})
    if data.reset:
        row.api_key = None
    given = data.model_dump(exclude_unset=True, exclude={"project", "scope", "reset", "api_key"})
    for key, value in given.items():
        if value is None:
            continue
        if key == "prices":
            values["prices"] = {**values.get("prices", {}), **value}
        else:
            values[key] = value
    if data.api_key is not None:
        row.api_key = cipher.encrypt(data.api_key) if data.api_key else None
    row.values = values  # a new dict: the JSON column sees the change
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()


def endpoint_of(session: Session, cipher: Cipher, project: Project, eff: Effective | None = None) -> Endpoint:
    """The endpoint a run of `project` uses; ModelNotConfigured saying what to run when none."""
    from codeforge.platform.agents.endpoint import Endpoint, Price
    from codeforge.platform.agents.model import ModelNotConfigured

    eff = eff or effective(session, project)
    v = eff.values
    if not eff.configured:
        missing = " and ".join(k.replace("_", " ") for k in ("base_url", "model") if not v[k])
        raise ModelNotConfigured(
            f"no model endpoint is configured for project {project.slug!r} (no {missing})",
            fix=f"run `{CONFIGURE_HINT}` (settings base_url and model; api_key if the endpoint needs one), "
            "or ask an admin to",
        )
    price = v["prices"].get(v["model"]) or {}
    return Endpoint(
        base_url=v["base_url"],
        api_key=cipher.decrypt(eff.api_key_enc) if eff.api_key_enc else "",
        model=v["model"],
        tools=bool(v["tools"]),
        timeout_s=float(v["timeout_s"]),
        max_retries=int(v["max_retries"]),
        price=Price(
            input_per_mtok=float(price.get("input_per_mtok", 0.0)),
            output_per_mtok=float(price.get("output_per_mtok", 0.0)),
        ),
        run_cap_usd=v["run_cap_usd"],
        project_cap_usd=v["project_cap_usd"],
        project_spent_usd=project_spent(session, project),
    )
