"""codeforge.yaml `deploy:` in the editor, through the real `codeforge lsp` (pytest-lsp over
stdio) and a live platform with a local edge node: schema diagnostics at their lines (wrong
types, an unknown strategy, canary steps that do not rise, a section that is not a mapping),
completion of strategies and workspaces, an unknown workspace and hosts outside the project's
domains from the platform, "Deploy" refused with the platform's words, and a real deploy of a
small app from a workspace (local runtime), deployed again and rolled back from the editor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform
from tests.conftest import run_operation as call
from tests.deployments.conftest import deployments_platform, set_app
from tests.lsp.conftest import open_document, run, wait_until


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """tests/lsp/conftest.py's `lsp` and `workspace` use this platform: one with an edge node."""
    with deployments_platform(tmp_path_factory.mktemp("deploy-editor"), "25700-25799") as running:
        yield running


@pytest.fixture(scope="module")
def client(live_platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(live_platform.url, live_platform.token, timeout=180) as c:
        yield c


@pytest.fixture(scope="module")
def app_workspace(client: PlatformClient, live_platform: RunningPlatform) -> Path:
    """A workspace `app` whose tree holds a small HTTP app answering its version."""
    info = call(client, "workspaces.create", {"project": live_platform.project, "name": "app", "template": "empty"})
    tree = Path(info["folder"])
    set_app(tree, "one")
    return tree


async def _actions(client: LanguageClient, uri: str) -> dict[str, types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return {a.title: a for a in found or [] if isinstance(a, types.CodeAction)}


async def _do(client: LanguageClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await run(client, action.command.command, *(action.command.arguments or []))


async def test_bad_entries_are_diagnosed_at_their_lines(lsp: LanguageClient, workspace: Path) -> None:
    text = (
        "project: demo\n"
        "deploy:\n"
        "  Web:\n"  # 2: not a deployment name
        "    workspace: app\n"
        "  api:\n"
        "    workspace: app\n"
        "    strategy: big-bang\n"  # 6
        "    instances: two\n"  # 7
        "    canary_steps: [50, 10]\n"  # 8
        "    colour: red\n"  # 9
        "    hosts: [bücher.example.test]\n"  # 10: the edge takes ASCII names
        "  both:\n"  # 11: two sources
        "    workspace: app\n"
        "    image: nginx\n"
        "  named:\n"
        "    name: other\n"  # 15 (said at the entry's key, line 14)
        "    workspace: app\n"
    )
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    by_line: dict[int, list[str]] = {}
    for d in lsp.diagnostics[uri]:
        by_line.setdefault(d.range.start.line, []).append(d.message)
    assert set(by_line) == {2, 6, 7, 8, 9, 10, 11, 14}, by_line
    assert "`Web` is not a valid deployment name" in by_line[2][0]
    assert "'rolling', 'blue-green' or 'canary'" in by_line[6][0]
    assert "valid integer" in by_line[7][0]
    assert "steps must rise" in by_line[8][0]
    assert "unknown key `colour`" in by_line[9][0] and "a deployment entry takes `workspace`, `image`" in by_line[9][0]
    assert "is not a host name" in by_line[10][0]
    assert "exactly one of `workspace` and `image`" in by_line[11][0]
    assert "`name` is not set in a deployment entry" in by_line[14][0]
    # A broken file offers no deploy.
    assert not any(t.startswith("Deploy") for t in await _actions(lsp, uri))


@pytest.mark.parametrize("value", ["[web]", "3"])
async def test_a_section_that_is_not_a_mapping(lsp: LanguageClient, workspace: Path, value: str) -> None:
    uri = open_document(lsp, workspace / "codeforge.yaml", f"project: demo\ndeploy: {value}\n")
    await wait_until(lambda: uri in lsp.diagnostics)
    [problem] = lsp.diagnostics[uri]
    assert problem.range.start.line == 1 and "expected a mapping" in problem.message


async def test_completion_offers_keys_strategies_and_workspaces(
    lsp: LanguageClient, workspace: Path, app_workspace: Path
) -> None:
    text = "project: demo\ndeploy:\n  web:\n    strategy: \n    workspace: \n    \n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)

    async def labels(line: int, character: int) -> set[str]:
        result = await lsp.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        assert isinstance(result, types.CompletionList)
        return {i.label for i in result.items}

    assert await labels(3, 14) == {"rolling", "blue-green", "canary"}
    assert "app" in await labels(4, 15)
    keys = await labels(5, 4)
    assert {"image", "command", "canary_steps", "max_error_rate", "regions", "hosts"} <= keys
    assert not {"project", "name", "strategy", "workspace"} & keys


async def test_platform_diagnostics_and_a_refused_deploy(
    lsp: LanguageClient, workspace: Path, app_workspace: Path
) -> None:
    text = (
        "project: demo\ndeploy:\n  web:\n    workspace: nosuch\n"
        "    hosts: [shop.example.test, web.demo.localhost]\n"
        "  ok:\n    workspace: app\n    hosts: [ok.demo.localhost]\n"
    )
    uri = open_document(lsp, workspace / "codeforge.yaml", text)

    def platform_said() -> dict[int, types.Diagnostic]:
        return {d.range.start.line: d for d in lsp.diagnostics.get(uri, []) if d.code}

    await wait_until(lambda: set(platform_said()) == {3, 4})
    said = platform_said()
    assert said[3].code == "deploy-unknown-workspace" and "no workspace `nosuch`" in said[3].message
    assert (
        said[4].code == "deploy-host-not-owned" and "`shop.example.test` not under a verified domain" in said[4].message
    )
    assert "localhost" not in said[4].message.split("use a")[0]

    actions = await _actions(lsp, uri)
    deploy = actions["Deploy `web`"]
    assert deploy.command is not None and deploy.command.command == "codeforge.projectFile.apply"
    assert list(deploy.command.arguments or []) == [{"uri": uri, "section": "deploy", "name": "web"}]
    assert "Deploy `ok`" in actions and not any(t.startswith("Roll back") for t in actions)
    with pytest.raises(JsonRpcException) as refused:
        await _do(lsp, deploy)
    assert "has no workspace 'nosuch'" in refused.value.message


async def test_deploy_again_and_roll_back_from_the_editor(
    lsp: LanguageClient, workspace: Path, app_workspace: Path, client: PlatformClient
) -> None:
    text = (
        "project: demo\ndeploy:\n  site:\n    workspace: app\n    command: [python3, app.py]\n"
        "    health_path: /health\n    health_timeout_s: 20\n    step_s: 0\n"
    )
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    first = await _do(lsp, (await _actions(lsp, uri))["Deploy `site`"])
    assert first["deployed"]["site"]["current"] == 1 and first["deployed"]["site"]["state"] == "live"
    # The deploy was a job followed with cancellable progress.
    assert any(
        isinstance(v, types.WorkDoneProgressBegin) and v.cancellable and v.title == "Deploy a new release"
        for reports in lsp.progress_reports.values()
        for v in reports
    )
    set_app(app_workspace, "two")
    second = await _do(lsp, (await _actions(lsp, uri))["Deploy `site`"])
    assert second["deployed"]["site"]["current"] == 2
    # The file was checked again after the deploy: an earlier release to go back to.
    back = (await _actions(lsp, uri))["Roll back `site` to v1"]
    assert back.command is not None and back.command.command == "codeforge.deployments.rollback"
    assert list(back.command.arguments or []) == [{"name": "site", "release": 1}]
    rolled = await _do(lsp, back)
    assert rolled["current"] == 1
    assert call(client, "deployments.show", {"project": "demo", "name": "site"})["current"] == 1
