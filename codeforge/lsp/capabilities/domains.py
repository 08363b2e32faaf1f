"""codeforge.yaml's `domains:` in the editor (docs/domains.md, "In the editor").

- diagnostics, from one `domains.list` on open and save: a domain not added to the project
  yet (a hint, quick fix "Add domain `X`"), added but not verified (a warning saying what to
  publish for the entry's `verify` method, quick fix "Verify domain `X`"), a domain the
  platform refused to add (another project owns it, a name under another of the project's
  domains: an error with the platform's words, kept until an add succeeds), and, on every
  change, a domain under another one the file declares (an error);
- the section's action (`codeforge.projectFile.apply {uri, section: "domains"}`): adds what
  is missing, and sets the declared `records` of the verified domains;
- `codeforge.domains.verifyDeclared {uri, domain}`: `domains.verify` with the entry's method,
  then the file is checked again.

Schema problems (bad host names, Unicode names that are not valid IDNA, a section that is not
a mapping) come from `codeforge.projectfile.domains` like every section's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from codeforge import catalog
from codeforge.catalog.domains import DomainInfo
from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, NotFound
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import (
    ApplyContext,
    CodeActionProvider,
    CodeActionRequest,
    Contributions,
    ProjectAction,
    ProjectFileCheck,
    ProjectFileView,
)
from codeforge.lsp.features import diagnostics as file_diagnostics
from codeforge.lsp.features.code_actions import APPLY_COMMAND, QUICKFIX, action
from codeforge.lsp.jobs import call_operation
from codeforge.lsp.reader import read_project
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile.domains import DomainEntry, hostname_of

__all__ = ["NOT_ADDED", "REFUSED", "UNVERIFIED", "VERIFY_COMMAND", "contribute"]

log = logging.getLogger(__name__)

SECTION = "domains"
# Diagnostic codes; their data is {"domain": the entry's key}.
NOT_ADDED = "domain-not-added"
UNVERIFIED = "domain-not-verified"
REFUSED = "domain-refused"
VERIFY_COMMAND = "codeforge.domains.verifyDeclared"


@dataclass
class _Known:
    project: str
    domains: dict[str, DomainInfo]  # by stored name (punycode)


@dataclass
class _DomainsState:
    known: dict[str, _Known] = field(default_factory=dict)
    # What the platform said when adding a domain failed, by stored name: until an add succeeds.
    refused: dict[str, str] = field(default_factory=dict)


def _declared(model: Any) -> dict[str, DomainEntry]:
    section = getattr(model, SECTION, None) if model is not None else None
    return section if isinstance(section, dict) else {}


def _parent_in(stored: str, others: set[str]) -> str | None:
    """The closest other name `stored` is under."""
    parents = [o for o in others if o != stored and stored.endswith("." + o)]
    return max(parents, key=len) if parents else None


def _how_to_verify(info: DomainInfo, entry: DomainEntry) -> str:
    method = entry.verify.value
    challenge = next((c for c in info.challenges if c.method == method), None)
    if challenge is None:
        return f"verify it ({method})"
    if method == "txt":
        return (
            f"publish a TXT record `{challenge.name}` holding `{challenge.value}` at its DNS provider, then verify it"
        )
    return f"serve `{challenge.value}` at {challenge.name}, then verify it"


def diagnose(ls: CodeForgeSession, view: ProjectFileView) -> list[types.Diagnostic]:
    declared = _declared(view.model)
    if not declared:
        return []
    state = ls.state(_DomainsState)
    known = state.known.get(view.uri)
    stored = {name: hostname_of(name) for name in declared}
    mine = set(stored.values()) | (set(known.domains) if known else set())
    out: list[types.Diagnostic] = []
    for name, entry in declared.items():
        host = stored[name]
        data = {"domain": name}
        parent = _parent_in(host, mine)
        if host in state.refused and (known is None or host not in known.domains):
            out.append(
                view.diagnostic(
                    (SECTION, name),
                    f"`{name}` cannot be added: {state.refused[host]}",
                    key=True,
                    severity=types.DiagnosticSeverity.Error,
                    code=REFUSED,
                    data=data,
                )
            )
        elif parent is not None and (known is None or host not in known.domains):
            out.append(
                view.diagnostic(
                    (SECTION, name),
                    f"`{name}` is under `{parent}`, another domain of this project: declare its records "
                    f"under `{parent}` (`records: [{{name: {host.removesuffix('.' + parent)}, …}}]`) instead",
                    key=True,
                    severity=types.DiagnosticSeverity.Error,
                )
            )
        elif known is None:
            continue
        elif host not in known.domains:
            out.append(
                view.diagnostic(
                    (SECTION, name),
                    f"domain `{name}` is not added to project {known.project} yet: add it with the quick fix, "
                    f"or `codeforge domains add {name}`",
                    key=True,
                    severity=types.DiagnosticSeverity.Hint,
                    code=NOT_ADDED,
                    data=data,
                )
            )
        elif not (info := known.domains[host]).verified:
            out.append(
                view.diagnostic(
                    (SECTION, name),
                    f"domain `{name}` is not verified yet: {_how_to_verify(info, entry)} "
                    '(quick fix "Verify domain", or `codeforge domains verify '
                    f"{name} --method {entry.verify.value}`)",
                    key=True,
                    severity=types.DiagnosticSeverity.Warning,
                    code=UNVERIFIED,
                    data=data,
                )
            )
        elif entry.records and not info.managed:
            out.append(
                view.diagnostic(
                    (SECTION, name, "records"),
                    f"no zone of this platform's DNS server holds `{name}`: its records cannot be set here; "
                    "set them at its DNS provider, or remove `records`",
                )
            )
    return out


async def refresh(ls: CodeForgeSession, view: ProjectFileView) -> None:
    """One `domains.list`; an unreachable platform leaves no diagnostic (the file is not wrong)."""
    state = ls.state(_DomainsState)
    state.known.pop(view.uri, None)
    if not _declared(view.model):
        return
    project = (view.model.project if view.model is not None else None) or ls.context_project()
    if not project:
        return
    try:
        listed = await ls.platform.call(catalog.domains.LIST, {"project": project})
    except CodeForgeError as exc:
        log.info("not checking codeforge.yaml's domains against the platform: %s", exc.message)
        return
    state.known[view.uri] = _Known(project, {d.domain: d for d in getattr(listed, "items", [])})


def forget(ls: CodeForgeSession, uri: str) -> None:
    ls.state(_DomainsState).known.pop(uri, None)


def quick_fixes(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    out = []
    for code, title in ((NOT_ADDED, "Add domain"), (REFUSED, "Add domain"), (UNVERIFIED, "Verify domain")):
        for diagnostic in request.ours(code):
            name = diagnostic.data.get("domain") if isinstance(diagnostic.data, dict) else None
            if not isinstance(name, str):
                continue
            if code == UNVERIFIED:
                command, argument = VERIFY_COMMAND, {"uri": request.uri, "domain": name}
            else:
                command, argument = APPLY_COMMAND, {"uri": request.uri, "section": SECTION, "name": name}
            out.append(
                action(
                    f"{title} `{name}`",
                    command,
                    argument,
                    kind=QUICKFIX,
                    diagnostics=[diagnostic],
                    is_preferred=code != REFUSED,
                )
            )
    return out


async def apply_domains(ls: CodeForgeSession, ctx: ApplyContext) -> dict[str, Any]:
    """Add the declared domains the project lacks; set the declared records of the verified
    ones. A domain the platform refuses is reported (and shown at its key), not fatal."""
    state = ls.state(_DomainsState)
    declared = {n: e for n, e in _declared(ctx.model).items() if ctx.names is None or n in ctx.names}
    if ctx.names is not None and not declared:
        raise BadInput(f"codeforge.yaml declares no domain {', '.join(sorted(ctx.names))}", fix="save the file first")
    ctx.report("asking the platform what exists", None)
    listed = await ls.platform.call(catalog.domains.LIST, {"project": ctx.project})
    have = {d.domain: d for d in getattr(listed, "items", [])}
    added: list[str] = []
    refused: dict[str, str] = {}
    records: list[str] = []
    todo = [n for n in declared if hostname_of(n) not in have]
    steps = len(todo) + sum(len(e.records) for n, e in declared.items() if _verified(have, n))
    done = 0
    for name in todo:
        ctx.report(f"adding {name}", done / max(steps, 1))
        try:
            info = DomainInfo.model_validate(
                await call_operation(ls, catalog.domains.ADD, {"project": ctx.project, "domain": name})
            )
        except (Conflict, NotFound, BadInput) as exc:
            refused[name] = exc.message
            state.refused[hostname_of(name)] = exc.message
        else:
            state.refused.pop(hostname_of(name), None)
            have[info.domain] = info
            added.append(name)
        done += 1
    for name, entry in declared.items():
        if not _verified(have, name):
            continue
        for record in entry.records:
            ctx.report(f"setting {record.type.value} {record.name} of {name}", done / max(steps, 1))
            await call_operation(
                ls,
                catalog.domains.SET_RECORD,
                {"project": ctx.project, "domain": name, **record.model_dump(mode="json")},
            )
            records.append(f"{record.name} {record.type.value} ({name})")
            done += 1
    unverified = [n for n in declared if hostname_of(n) in have and not have[hostname_of(n)].verified]
    parts = [f"added {', '.join(added)}"] if added else []
    if records:
        parts.append(f"set {len(records)} record set(s)")
    if refused:
        parts.append("refused: " + "; ".join(f"{n} ({m})" for n, m in refused.items()))
    if unverified:
        parts.append(f"to verify: {', '.join(unverified)} (see the diagnostics for what to publish)")
    message = f"codeforge.yaml domains ({ctx.project}): {'; '.join(parts) or 'nothing to do'}"
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Warning if refused else types.MessageType.Info, message=message)
    )
    return {"project": ctx.project, "added": added, "refused": refused, "records": records, "unverified": unverified}


def _verified(have: dict[str, DomainInfo], name: str) -> bool:
    info = have.get(hostname_of(name))
    return info is not None and info.verified


class VerifyArguments(CommandArguments):
    uri: str
    domain: str


@lsp_command(VERIFY_COMMAND, VerifyArguments)
async def verify_declared(ls: CodeForgeSession, args: VerifyArguments) -> dict[str, Any]:
    """`domains.verify` of a declared domain, with the method its entry names; then the file
    is checked again (the warning goes once it is verified)."""
    doc = read_project(ls, args.uri)
    entry = _declared(doc.model).get(args.domain)
    if entry is None:
        raise BadInput(f"codeforge.yaml declares no domain {args.domain}", fix="save the file first")
    try:
        result = await call_operation(
            ls, catalog.domains.VERIFY, {"project": doc.project, "domain": args.domain, "method": entry.verify.value}
        )
    finally:
        await file_diagnostics.refresh(ls, args.uri)
    ls.info(f"domain {args.domain} is verified ({entry.verify.value})")
    return dict(result)


def _file_actions(ls: CodeForgeSession, request: CodeActionRequest) -> list[types.CodeAction]:
    if not _declared(request.project):
        return []
    return [action("Open the domains pane", catalog.panes.OPEN.command, {"pane": "domains"})]


def contribute(c: Contributions) -> None:
    c.add(
        ProjectFileCheck("domains on the platform", diagnose, refresh, forget),
        ProjectAction(
            section=SECTION,
            title="Add domains from codeforge.yaml (and set their records)",
            wanted=lambda model: bool(_declared(model)),
            run=apply_domains,
        ),
        CodeActionProvider("domain quick fixes", (QUICKFIX,), quick_fixes),
        CodeActionProvider("domain actions", ("source.codeforge",), _file_actions),
        verify_declared,
    )
