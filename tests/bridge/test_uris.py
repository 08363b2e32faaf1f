"""UriMap: file URIs between an editor's folder and the workspace, in real LSP message shapes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from codeforge.bridge.uris import SHADOW_SCHEME, UriMap

EDITOR = "file:///home/ana/my%20shop"  # VS Code's spelling of "/home/ana/my shop"
WS = Path("/srv/work space/shop")
WS_URI = WS.as_uri()  # file:///srv/work%20space/shop


def init_params(**extra: Any) -> dict[str, Any]:
    return {
        "processId": 4242,
        "rootUri": EDITOR,
        "rootPath": "/home/ana/my shop",
        "workspaceFolders": [{"uri": EDITOR, "name": "my shop"}],
        "capabilities": {},
        **extra,
    }


@pytest.fixture
def uris() -> UriMap:
    return UriMap.from_initialize(init_params(), WS)


def test_initialize_params_themselves_are_rewritten(uris: UriMap) -> None:
    message = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init_params()}
    mapped = uris.to_workspace(message)
    assert mapped["params"]["rootUri"] == WS_URI
    assert mapped["params"]["rootPath"] == str(WS)
    assert mapped["params"]["workspaceFolders"] == [{"uri": WS_URI, "name": "my shop"}]
    assert mapped["params"]["processId"] == 4242
    assert message["params"]["rootUri"] == EDITOR  # the editor's message is not modified


@pytest.mark.parametrize(
    "params",
    [
        {"rootUri": EDITOR},
        {"rootPath": "/home/ana/my shop"},
        {"workspaceFolders": [{"uri": EDITOR, "name": "x"}, {"uri": "file:///elsewhere", "name": "y"}]},
        {"rootUri": None, "rootPath": None, "workspaceFolders": [{"uri": EDITOR + "/", "name": "x"}]},
    ],
)
def test_the_root_comes_from_rooturi_rootpath_or_the_first_folder(params: dict[str, Any]) -> None:
    uris = UriMap.from_initialize(params, WS)
    assert uris.uri_to_workspace(EDITOR + "/app.py") == WS_URI + "/app.py"
    assert uris.uri_to_editor(WS_URI + "/app.py").endswith("/my%20shop/app.py")


def test_no_root_is_an_identity_map() -> None:
    uris = UriMap.from_initialize({"rootUri": None, "capabilities": {}}, WS)
    assert uris.identity
    message = {"method": "textDocument/didOpen", "params": {"textDocument": {"uri": EDITOR + "/a.py"}}}
    assert uris.to_workspace(message) == message
    assert uris.to_editor(message) == message


def test_a_root_that_is_not_a_local_file_uri_is_ignored() -> None:
    assert UriMap.from_initialize({"rootUri": "https://example.com/x"}, WS).identity
    assert UriMap.from_initialize({"rootUri": "file://otherhost/x"}, WS).identity
    with pytest.raises(ValueError, match="not a local file URI"):
        UriMap("vscode-remote://x/y", WS)


def test_percent_encoding_spaces_and_unicode_round_trip_in_the_editors_spelling(uris: UriMap) -> None:
    for editor_uri, workspace_uri in [
        (EDITOR + "/caf%C3%A9/%E6%97%A5%E6%9C%AC.py", WS_URI + "/caf%C3%A9/%E6%97%A5%E6%9C%AC.py"),
        # Neovim's vim.uri_from_fname leaves some characters VS Code encodes: still the same file.
        ("file:///home/ana/my%20shop/café/a b.py", WS_URI + "/caf%C3%A9/a%20b.py"),
        (EDITOR + "/odd%23name%3F.py", WS_URI + "/odd%23name%3F.py"),
    ]:
        assert uris.uri_to_workspace(editor_uri) == workspace_uri
        # Answers name the file as the editor did (some editors compare URIs as strings).
        assert uris.uri_to_editor(workspace_uri) == editor_uri
    # A workspace file the editor never named gets the root's spelling, encoded.
    assert uris.uri_to_editor(WS_URI + "/new%20dir/%C3%BC.py") == EDITOR + "/new%20dir/%C3%BC.py"
    # The workspace URI a server spells differently (unencoded) is still recognised.
    assert uris.uri_to_editor("file:///srv/work space/shop/x.py") == EDITOR + "/x.py"


def test_fragments_and_queries_survive(uris: UriMap) -> None:
    assert uris.uri_to_workspace(EDITOR + "/README.md#L10") == WS_URI + "/README.md#L10"
    assert uris.uri_to_editor(WS_URI + "/README.md#L10") == EDITOR + "/README.md#L10"


def test_the_root_itself_maps(uris: UriMap) -> None:
    assert uris.uri_to_workspace(EDITOR) == WS_URI
    assert uris.uri_to_workspace(EDITOR + "/") == WS_URI
    assert uris.uri_to_editor(WS_URI) == EDITOR


def test_diagnostics_with_related_information(uris: UriMap) -> None:
    message = {
        "jsonrpc": "2.0",
        "method": "textDocument/publishDiagnostics",
        "params": {
            "uri": WS_URI + "/app.py",
            "version": 3,
            "diagnostics": [
                {
                    "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 4}},
                    "message": "`greet` is redeclared",
                    "relatedInformation": [
                        {
                            "location": {
                                "uri": WS_URI + "/lib/greet.py",
                                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                            },
                            "message": "first declared here",
                        },
                        {
                            "location": {
                                "uri": "file:///usr/lib/python3.11/typing.py",
                                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                            },
                            "message": "outside the workspace: unchanged",
                        },
                    ],
                    "codeDescription": {"href": "https://docs.basedpyright.com/rules#reportRedeclaration"},
                }
            ],
        },
    }
    mapped = uris.to_editor(message)
    assert mapped["params"]["uri"] == EDITOR + "/app.py"
    related = mapped["params"]["diagnostics"][0]["relatedInformation"]
    assert related[0]["location"]["uri"] == EDITOR + "/lib/greet.py"
    assert related[1]["location"]["uri"] == "file:///usr/lib/python3.11/typing.py"
    assert mapped["params"]["diagnostics"][0]["codeDescription"]["href"].startswith("https://")
    assert mapped["params"]["diagnostics"][0]["message"] == "`greet` is redeclared"


def test_locations_and_location_links(uris: UriMap) -> None:
    rng = {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 9}}
    result = {
        "jsonrpc": "2.0",
        "id": 7,
        "result": [
            {"uri": WS_URI + "/lib.py", "range": rng},
            {
                "originSelectionRange": rng,
                "targetUri": WS_URI + "/pkg/mod.py",
                "targetRange": rng,
                "targetSelectionRange": rng,
            },
            {"uri": "file:///home/ana/.venv/lib/python3.11/site-packages/x.py", "range": rng},
        ],
    }
    mapped = uris.to_editor(result)["result"]
    assert mapped[0]["uri"] == EDITOR + "/lib.py"
    assert mapped[1]["targetUri"] == EDITOR + "/pkg/mod.py"
    assert mapped[2]["uri"] == "file:///home/ana/.venv/lib/python3.11/site-packages/x.py"


def test_workspace_edit_changes_keys_and_document_changes(uris: UriMap) -> None:
    edit = {
        "changes": {WS_URI + "/a.py": [{"range": {}, "newText": "x"}]},
        "documentChanges": [
            {"textDocument": {"uri": WS_URI + "/a.py", "version": 2}, "edits": []},
            {"kind": "create", "uri": WS_URI + "/new.py", "options": {"ignoreIfExists": True}},
            {"kind": "rename", "oldUri": WS_URI + "/old.py", "newUri": WS_URI + "/sub/new%20name.py"},
            {"kind": "delete", "uri": WS_URI + "/gone.py", "options": {"recursive": False}},
        ],
    }
    request = {"jsonrpc": "2.0", "id": "1:3", "method": "workspace/applyEdit", "params": {"label": "x", "edit": edit}}
    mapped = uris.to_editor(request)["params"]["edit"]
    assert list(mapped["changes"]) == [EDITOR + "/a.py"]
    changes = mapped["documentChanges"]
    assert changes[0]["textDocument"]["uri"] == EDITOR + "/a.py"
    assert changes[1]["uri"] == EDITOR + "/new.py"
    assert (changes[2]["oldUri"], changes[2]["newUri"]) == (EDITOR + "/old.py", EDITOR + "/sub/new%20name.py")
    assert changes[3]["uri"] == EDITOR + "/gone.py"
    # An edit the editor sends (a code action's, willRenameFiles) goes the other way.
    back = uris.to_workspace({"params": {"files": [{"oldUri": EDITOR + "/old.py", "newUri": EDITOR + "/b.py"}]}})
    assert back["params"]["files"] == [{"oldUri": WS_URI + "/old.py", "newUri": WS_URI + "/b.py"}]


def test_configuration_watched_files_hierarchies_and_links(uris: UriMap) -> None:
    configuration = {
        "method": "workspace/configuration",
        "params": {"items": [{"scopeUri": WS_URI, "section": "python"}]},
    }
    assert uris.to_editor(configuration)["params"]["items"][0]["scopeUri"] == EDITOR
    watched = {
        "method": "workspace/didChangeWatchedFiles",
        "params": {"changes": [{"uri": EDITOR + "/pyproject.toml", "type": 2}]},
    }
    assert uris.to_workspace(watched)["params"]["changes"][0]["uri"] == WS_URI + "/pyproject.toml"
    registration = {
        "method": "client/registerCapability",
        "params": {
            "registrations": [
                {
                    "id": "w1",
                    "method": "workspace/didChangeWatchedFiles",
                    "registerOptions": {
                        "watchers": [{"globPattern": {"baseUri": WS_URI, "pattern": "**/*.py"}}, {"globPattern": "**"}]
                    },
                }
            ]
        },
    }
    watchers = uris.to_editor(registration)["params"]["registrations"][0]["registerOptions"]["watchers"]
    assert watchers == [{"globPattern": {"baseUri": EDITOR, "pattern": "**/*.py"}}, {"globPattern": "**"}]
    item = {"name": "f", "kind": 12, "uri": WS_URI + "/a.py", "range": {}, "selectionRange": {}}
    incoming = {"id": 3, "result": [{"from": item, "fromRanges": []}]}
    assert uris.to_editor(incoming)["result"][0]["from"]["uri"] == EDITOR + "/a.py"
    outgoing = uris.to_workspace(
        {"method": "callHierarchy/outgoingCalls", "params": {"item": {**item, "uri": EDITOR + "/a.py"}}}
    )
    assert outgoing["params"]["item"]["uri"] == WS_URI + "/a.py"
    links = {"id": 4, "result": [{"range": {}, "target": WS_URI + "/docs/x.md#intro"}]}
    assert uris.to_editor(links)["result"][0]["target"] == EDITOR + "/docs/x.md#intro"


def test_other_schemes_and_text_are_left_alone(uris: UriMap) -> None:
    for value in [
        "untitled:Untitled-1",
        "https://example.com/a.py",
        "vscode-notebook-cell:/x#1",
        "file://otherhost/srv/x",
    ]:
        assert uris.uri_to_workspace(value) == value
        assert uris.uri_to_editor(value) == value
    hover = {"id": 1, "result": {"contents": {"kind": "markdown", "value": "see file:///srv/x"}}}
    assert uris.to_editor(hover) == hover


def test_a_path_that_escapes_with_dotdot_is_never_mapped_into_the_workspace(uris: UriMap) -> None:
    # Lexically outside the editor's folder: not in it, whatever the prefix says.
    escaping = EDITOR + "/../../../../etc/passwd"
    assert uris.uri_to_workspace(escaping) == escaping
    # Inside it after `..` is folded: mapped to the same file.
    assert uris.uri_to_workspace(EDITOR + "/sub/../app.py") == WS_URI + "/app.py"
    # Escaping from the workspace on the way back stays as it is.
    assert uris.uri_to_editor(WS_URI + "/../../etc/passwd") == WS_URI + "/../../etc/passwd"
    # A sibling folder that shares the root's prefix is not under it.
    assert uris.uri_to_workspace("file:///home/ana/my%20shopping/a.py") == "file:///home/ana/my%20shopping/a.py"
    assert uris.uri_to_editor("file:///srv/work%20space/shop2/a.py") == "file:///srv/work%20space/shop2/a.py"
    # Malformed percent-encoding is not guessed at.
    assert uris.uri_to_workspace(EDITOR + "/%ff%fe.py") == EDITOR + "/%ff%fe.py"


def test_an_editor_path_outside_its_folder_never_aliases_a_workspace_file(uris: UriMap) -> None:
    # The editor's own /srv/work space/shop/secret.py (or one reached through `..`) is not the
    # workspace's: the server must not read the workspace file in its place.
    for editor_uri in [WS_URI + "/secret.py", EDITOR + "/../../../../srv/work%20space/shop/secret.py"]:
        mapped = uris.uri_to_workspace(editor_uri)
        assert mapped.startswith(SHADOW_SCHEME + ":")
        assert uris.uri_to_editor(mapped) == editor_uri
    message = {"method": "textDocument/didOpen", "params": {"textDocument": {"uri": WS_URI + "/secret.py"}}}
    assert uris.to_editor(uris.to_workspace(message)) == message


def test_plain_paths_outside_the_root_are_unchanged(uris: UriMap) -> None:
    assert uris.path_to_workspace("/home/ana/my shop/src") == str(WS / "src")
    assert uris.path_to_workspace("/home/ana/other") == "/home/ana/other"
    assert uris.path_to_editor(str(WS / "src")) == "/home/ana/my shop/src"
    assert uris.path_to_editor("/usr/lib") == "/usr/lib"
    assert uris.path_to_workspace("relative/x") == "relative/x"


def test_messages_are_copied_not_modified(uris: UriMap) -> None:
    message = {"params": {"changes": {WS_URI + "/a.py": [{"newText": "x"}]}, "items": [WS_URI + "/b.py", 3, None]}}
    before = copy.deepcopy(message)
    mapped = uris.to_editor(message)
    assert message == before
    assert mapped["params"]["items"] == [EDITOR + "/b.py", 3, None]


def test_same_folder_on_both_sides() -> None:
    uris = UriMap.from_initialize({"rootUri": WS_URI}, WS)
    assert uris.uri_to_workspace(WS_URI + "/a%20b.py") == WS_URI + "/a%20b.py"
    assert uris.uri_to_editor(WS_URI + "/a%20b.py") == WS_URI + "/a%20b.py"
    assert uris.uri_to_workspace("file:///etc/hosts") == "file:///etc/hosts"
