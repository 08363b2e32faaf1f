"""Production errors in the editor, through the real `codeforge lsp` (pytest-lsp over stdio) and
the shared monitoring platform (`monitored`): a real exception, raised by a small program whose
files sit under a deployed-looking path, its traceback POSTed as a JSON line to
/ingest/{project}/logs, becomes an Error diagnostic at the raising line of the workspace's copy
of that file (a file the editor has not opened: the Problems list), with the caller as related
information; its quick fixes are offered; "Resolve error" clears it; a new error reaches the
editor feed as a message with "Open". Bad cases: no platform, the operation refused, frames
that map to no project file, bad arguments: no diagnostic and no crash. Each wait is bounded
and says what did not come (the errors ingested right after the session started once raced
the feed's first call, and the journey hung)."""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.lsp.capabilities.monitoring.actions import FIX_TITLE, RESOLVE_TITLE, SHOW_TITLE
from codeforge.lsp.capabilities.monitoring.diagnostics import SOURCE
from codeforge.lsp.capabilities.monitoring.feed import mask_secrets, notification_text
from codeforge.lsp.capabilities.monitoring.paths import map_deployed_path
from tests.conftest import RunningPlatform, free_port
from tests.lsp.conftest import run, start_client, stop_client, wait_until
from tests.monitoring_platform import new_project

# The program as deployed: orders.py's `total` raises, called by `checkout`.
ORDERS = """\
def total(order):
    prices = {"apple": 3, "pear": 4}
    amount = 0
    for item in order:
        amount += prices[item]
    return amount


def checkout(order):
    amount = total(order)
    return {"amount": amount}
"""
RAISING_LINE = 5  # 1-based: `amount += prices[item]`
CALLER_LINE = 10  # `amount = total(order)`
MAIN = "from shop.orders import checkout\n\n\ndef handle(order):\n    return checkout(order)\n"


def _catalog(platform: RunningPlatform) -> set[str]:
    with platform.client() as client:
        return {entry["name"] for entry in client.catalog()}


def _require_ops(platform: RunningPlatform, *names: str) -> None:
    missing = sorted(set(names) - _catalog(platform))
    assert not missing, f"the platform's catalog lacks {', '.join(missing)}"


def _raise_from(deployed: Path, order: list[str]) -> str:
    """Run the deployed program (its files compiled with their deployed paths, as a real
    process would report them) and return the traceback it raised."""
    namespace: dict[str, Any] = {}
    exec(
        compile((deployed / "shop" / "orders.py").read_text(), str(deployed / "shop" / "orders.py"), "exec"), namespace
    )
    main: dict[str, Any] = {"checkout": namespace["checkout"]}
    # The same lines as main.py (its import is the namespace's `checkout` here).
    exec(compile(MAIN.replace("from shop.orders import checkout", "pass"), str(deployed / "main.py"), "exec"), main)
    try:
        main["handle"](order)
    except Exception:
        return traceback.format_exc()
    raise AssertionError("the program did not raise")


def _ingest(platform: RunningPlatform, project: str, message: str, **fields: Any) -> None:
    line = json.dumps({"time": time.time(), "level": "error", "service": "shop", "message": message, **fields})
    response = httpx.post(
        f"{platform.url}/ingest/{project}/logs",
        content=line + "\n",
        headers={"Authorization": f"Bearer {platform.token}", "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert response.status_code < 300, response.text


def _deployed(tmp_path: Path) -> Path:
    """The program's files under a path like a server's (…/srv/app/shop/orders.py)."""
    deployed = tmp_path / "srv" / "app"
    (deployed / "shop").mkdir(parents=True)
    (deployed / "shop" / "orders.py").write_text(ORDERS)
    (deployed / "main.py").write_text(MAIN)
    return deployed


def _workspace(tmp_path: Path, project: str, yaml_extra: str = "") -> Path:
    folder = tmp_path / "ws"
    (folder / "shop").mkdir(parents=True)
    (folder / "codeforge.yaml").write_text(f"project: {project}\n{yaml_extra}")
    (folder / "shop" / "orders.py").write_text(ORDERS)
    (folder / "main.py").write_text(MAIN)
    return folder


@pytest_asyncio.fixture
async def editor(
    monitored: RunningPlatform, tmp_path: Path
) -> AsyncIterator[tuple[LanguageClient, Path, str, list[types.ShowMessageRequestParams]]]:
    project = new_project(monitored)
    folder = _workspace(tmp_path, project)
    client = await start_client(monitored.env, folder)
    requests: list[types.ShowMessageRequestParams] = []

    def message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        requests.append(params)
        return next((a for a in params.actions or [] if a.title == "Open"), None)

    client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(message_request)
    yield client, folder, project, requests
    await stop_client(client)


async def _refresh_until(
    client: LanguageClient, done: Any, platform: RunningPlatform, project: str, within_s: float = 60
) -> dict[str, Any]:
    """Refresh until `done(answer)`: ingestion and grouping run on the platform's threads.
    Past `within_s` it fails with what the platform itself holds and its log's tail."""
    deadline = time.monotonic() + within_s
    while True:
        answer: dict[str, Any] = await asyncio.wait_for(run(client, "codeforge.monitoring.refresh", {}), within_s)
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            with platform.client() as direct:
                held = direct.call("monitoring.errors", {"project": project}).model_dump(mode="json")
            log = platform.log_path.read_text(errors="replace")[-6000:]
            raise AssertionError(f"the editor saw {answer}; the platform holds {held}; its log ends:\n{log}")
        await asyncio.sleep(0.2)


async def _within(step: Any, what: str, context: Any) -> Any:
    try:
        return await asyncio.wait_for(step, 40)
    except TimeoutError:
        raise AssertionError(f"{what} did not come in 40 s: {context}") from None


def _ours(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.source == SOURCE]


def _foreign_traceback(tmp_path: Path) -> str:
    """A traceback from files the workspace does not have (/…/opt/other/elsewhere.py)."""
    other = tmp_path / "server" / "opt" / "other"
    other.mkdir(parents=True)
    (other / "elsewhere.py").write_text("def boom():\n    raise RuntimeError('not ours')\n")
    namespace: dict[str, Any] = {}
    exec(compile((other / "elsewhere.py").read_text(), str(other / "elsewhere.py"), "exec"), namespace)
    try:
        namespace["boom"]()
    except RuntimeError:
        return traceback.format_exc()
    raise AssertionError("it did not raise")


@pytest.mark.timeout(180)
async def test_production_error_is_a_diagnostic_with_quick_fixes_feed_and_resolve(
    editor: tuple[LanguageClient, Path, str, list[types.ShowMessageRequestParams]],
    monitored: RunningPlatform,
    tmp_path: Path,
) -> None:
    client, folder, project, requests = editor
    _require_ops(monitored, "monitoring.errors", "monitoring.triage")
    deployed = _deployed(tmp_path / "server")
    _ingest(monitored, project, "checkout failed\n" + _raise_from(deployed, ["apple", "kiwi"]))
    # An error whose frames map to no project file: counted, no diagnostic.
    _ingest(monitored, project, "failed\n" + _foreign_traceback(tmp_path))
    uri = (folder / "shop" / "orders.py").as_uri()
    answer = await _refresh_until(client, lambda a: a["errors"] >= 2, monitored, project)
    assert answer["diagnostics"] == 1 and answer["files"] == [uri]  # never opened: for the Problems list
    await wait_until(lambda: bool(_ours(client, uri)))
    [diagnostic] = _ours(client, uri)
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start.line == RAISING_LINE - 1
    line = ORDERS.splitlines()[RAISING_LINE - 1]
    assert (diagnostic.range.start.character, diagnostic.range.end.character) == (
        len(line) - len(line.lstrip()),
        len(line),
    )
    assert diagnostic.message.startswith("KeyError: 'kiwi' (1 event, last seen"), diagnostic.message
    group = str(diagnostic.code)
    related = [(r.location.uri, r.location.range.start.line) for r in diagnostic.related_information or []]
    assert related == [(uri, CALLER_LINE - 1), ((folder / "main.py").as_uri(), 4)], related

    got = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    actions = {a.title: a for a in got or [] if isinstance(a, types.CodeAction)}
    assert {FIX_TITLE, RESOLVE_TITLE, SHOW_TITLE} <= set(actions)
    fix = actions[FIX_TITLE].command
    assert fix is not None and fix.command == "codeforge.agents.fix"
    [fix_argument] = list(fix.arguments or [])
    assert isinstance(fix_argument, dict)
    assert fix_argument["line"] == RAISING_LINE - 1 and "KeyError" in fix_argument["message"]
    assert str(deployed / "shop" / "orders.py") in fix_argument["message"]  # the stack
    show = actions[SHOW_TITLE].command
    assert show is not None and list(show.arguments or []) == [{"pane": "error", "item": group}]

    if "monitoring.notifications" in _catalog(monitored):
        # The new errors reached the editor feed; "Open" (the person's choice) shows the pane.
        await _within(wait_until(lambda: any("KeyError" in r.message for r in requests)), "feed request", requests)
        request = next(r for r in requests if "KeyError" in r.message)
        assert [a.title for a in request.actions or []] == ["Open"]
        await _within(wait_until(lambda: bool(client.shown_documents)), "shown document", requests)
        assert "error" in client.shown_documents[0].uri, client.shown_documents

    resolve = actions[RESOLVE_TITLE].command
    assert resolve is not None
    await _within(run(client, resolve.command, *(resolve.arguments or [])), "resolve", resolve)
    await _within(wait_until(lambda: not _ours(client, uri)), "cleared", client.diagnostics)
    with monitored.client() as platform:
        listed = platform.call("monitoring.errors", {"project": project}).model_dump(mode="json")
    assert any(g["id"] == group and g["state"] == "resolved" for g in listed["items"]), listed


@pytest.mark.timeout(180)
async def test_no_platform_and_a_refused_project_give_no_diagnostic(monitored: RunningPlatform, tmp_path: Path) -> None:
    # No platform at all: nothing listens on the port.
    env = {**monitored.env, "CODEFORGE_URL": f"http://127.0.0.1:{free_port()}"}
    client = await start_client(env, _workspace(tmp_path / "a", "shop"))
    try:
        answer = await run(client, "codeforge.monitoring.refresh", {})
        assert answer == {"errors": 0, "diagnostics": 0, "files": []}
        with pytest.raises(JsonRpcException, match="cannot reach the platform"):
            await run(client, "codeforge.monitoring.resolve", {"id": "0" * 32})
    finally:
        await stop_client(client)
    # The operation refused: a project that does not exist.
    client = await start_client(monitored.env, _workspace(tmp_path / "b", "no-such-project"))
    try:
        answer = await run(client, "codeforge.monitoring.refresh", {})
        assert answer == {"errors": 0, "diagnostics": 0, "files": []}
        assert not client.diagnostics or not any(_ours(client, uri) for uri in client.diagnostics)
        # Bad arguments are named with their fix.
        with pytest.raises(JsonRpcInvalidParams, match="id"):
            await run(client, "codeforge.monitoring.resolve", {})
        with pytest.raises(JsonRpcInvalidParams, match="nope"):
            await run(client, "codeforge.monitoring.refresh", {"nope": 1})
    finally:
        await stop_client(client)


def test_paths_map_to_project_files() -> None:
    files = {"shop/orders.py", "main.py", "services/api/cart.py"}
    is_file = files.__contains__
    assert map_deployed_path("/srv/app/shop/orders.py", is_file=is_file) == "shop/orders.py"
    assert map_deployed_path("C:\\app\\main.py", is_file=is_file) == "main.py"
    assert map_deployed_path("/srv/api/cart.py", prefixes={"/srv/api": "services/api"}, is_file=is_file) == (
        "services/api/cart.py"
    )
    # /srv/apiary is not under /srv/api; a prefix whose file is missing falls back to suffixes.
    assert map_deployed_path("/srv/apiary/cart.py", prefixes={"/srv/api": "services/api"}, is_file=is_file) is None
    assert map_deployed_path("/x/main.py", prefixes={"/x": "nowhere"}, is_file=is_file) == "main.py"
    for unmappable in ("/usr/lib/python3.11/json/decoder.py", "<frozen runpy>", "<string>", "", "/"):
        assert map_deployed_path(unmappable, is_file=is_file) is None
    # A prefix that would leave the project is not followed (the suffix rule still applies).
    assert map_deployed_path("/a/main.py", prefixes={"/a": "../outside"}, is_file=lambda p: True) == "a/main.py"


def test_notifications_never_show_secrets() -> None:
    text = notification_text(
        {
            "kind": "alert.firing",
            "title": "Webhook failing",
            "message": "POST https://bot:hunter2@hooks.example/x token=abc123 Authorization: Bearer eyJhbGciOi.xyz",
        }
    )
    for secret in ("hunter2", "abc123", "eyJhbGciOi"):
        assert secret not in text, text
    assert text.startswith("CodeForge: Webhook failing: POST https://bot:")
    assert mask_secrets("api_key=k-1 password: p4ss plain=ok") == "api_key=•••• password: •••• plain=ok"
