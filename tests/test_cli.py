"""The `codeforge` command against a real platform: catalog commands, jobs, errors, `up`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from codeforge.cli.editors import VSCODE_INSTALL, editor_setup_lines
from tests.conftest import RunningPlatform, free_port

CLI = [sys.executable, "-m", "codeforge"]


def run(platform: RunningPlatform, *args: str, stdin: str | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    env = platform.env | {"COLUMNS": "200"}
    return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_set_list_reveal(live_platform: RunningPlatform) -> None:
    assert run(live_platform, "env", "set", "CLI_VAR", "--value", "hello").returncode == 0
    secret = run(live_platform, "env", "set", "CLI_SECRET", "--secret", stdin="pssst\n")  # prompted, hidden
    assert secret.returncode == 0, secret.stderr
    listed = run(live_platform, "env", "list", "--json")
    items = {i["name"]: i for i in json.loads(listed.stdout)["items"]}
    assert items["CLI_VAR"]["value"] == "hello" and items["CLI_SECRET"]["value"] is None
    assert "pssst" not in listed.stdout
    assert json.loads(run(live_platform, "env", "reveal", "CLI_SECRET", "--json").stdout)["value"] == "pssst"


def test_project_from_codeforge_yaml(live_platform: RunningPlatform, tmp_path: Path) -> None:
    (tmp_path / "codeforge.yaml").write_text("project: elsewhere\n")
    result = run(live_platform, "env", "list", cwd=tmp_path)
    assert result.returncode == 1 and "elsewhere" in result.stderr and "projects list" in result.stderr


def test_broken_codeforge_yaml_is_reported_not_ignored(live_platform: RunningPlatform, tmp_path: Path) -> None:
    (tmp_path / "codeforge.yaml").write_text("project: [not, a, slug\n")
    result = run(live_platform, "env", "list", cwd=tmp_path)
    assert result.returncode == 2 and "codeforge.yaml" in result.stderr and "Traceback" not in result.stderr


def test_codeforge_yaml_section_of_an_outside_capability_is_read(
    live_platform: RunningPlatform, tmp_path: Path
) -> None:
    """A section that a capability from CODEFORGE_CAPABILITIES declares is part of the file's
    model for the CLI too (as for the language server), not an unknown key."""
    (tmp_path / "codeforge.yaml").write_text("project: elsewhere\ngreetings: {greet: [ada]}\n")
    plain = run(live_platform, "env", "list", cwd=tmp_path)
    assert plain.returncode == 2 and "greetings" in plain.stderr
    env = live_platform.env | {
        "COLUMNS": "200",
        "CODEFORGE_CAPABILITIES": "tests.fixtures.capability_demo",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    extended = subprocess.run([*CLI, "env", "list"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert extended.returncode == 1 and "elsewhere" in extended.stderr, extended.stderr


def test_bad_input_exits_2_with_field_and_fix(live_platform: RunningPlatform) -> None:
    result = run(live_platform, "env", "set", "9LIVES", "--value", "x")
    assert result.returncode == 2
    assert "name" in result.stderr and "Error" in result.stderr and "Traceback" not in result.stderr


def test_dict_options_take_key_value_pairs_and_default_when_absent(live_platform: RunningPlatform) -> None:
    """A dict field (a scrape target's labels) is a repeatable KEY=VALUE option (or a JSON
    object); left out, the platform's own default applies."""
    bare = run(live_platform, "monitoring", "add-target", "bare", "platform", "--json")
    assert bare.returncode == 0, bare.stderr
    assert json.loads(bare.stdout)["labels"] == {}
    labelled = run(
        live_platform, "monitoring", "add-target", "labelled", "platform", "--labels", "env=prød",
        "--labels", '{"team": "shop"}', "--json",
    )  # fmt: skip
    assert labelled.returncode == 0, labelled.stderr
    assert json.loads(labelled.stdout)["labels"] == {"env": "prød", "team": "shop"}
    wrong = run(live_platform, "monitoring", "add-target", "bad", "platform", "--labels", "envprod")
    assert wrong.returncode != 0 and "KEY=VALUE" in wrong.stderr and "Traceback" not in wrong.stderr


def test_follow_prints_new_log_lines_as_they_come(live_platform: RunningPlatform, tmp_path: Path) -> None:
    """`codeforge monitoring tail --follow` keeps waiting and prints each new line once."""
    out = tmp_path / "follow.out"
    with out.open("w") as sink:
        follower = subprocess.Popen(
            [*CLI, "monitoring", "tail", "--follow", "--query", '{service="cli"}'],
            env=live_platform.env | {"COLUMNS": "200"}, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        time.sleep(3)  # its first page is taken: what is sent now is new
        for n in ("first", "second"):
            answer = httpx.post(
                f"{live_platform.url}/ingest/{live_platform.project}/logs",
                content=f'{{"msg": "{n} fóllowed line", "service": "cli"}}\n{{"msg": "not this", "service": "x"}}\n',
                headers={"Authorization": f"Bearer {live_platform.token}", "Content-Type": "application/x-ndjson"},
            )
            assert answer.status_code < 300, answer.text
        deadline = time.monotonic() + 60
        while "second fóllowed" not in out.read_text() and follower.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        follower.terminate()
        follower.wait(20)
    seen = out.read_text()
    assert seen.count("first fóllowed line") == 1 and "second fóllowed line" in seen, seen
    assert "not this" not in seen and "service=cli" in seen and "Traceback" not in seen


def test_import_job_with_progress(live_platform: RunningPlatform, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("\n".join(f"IMP_{i}={i}" for i in range(300)))
    result = run(live_platform, "env", "import", str(dotenv), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 300
    assert "Import variables" in result.stderr  # the progress bar's title
    missing = run(live_platform, "env", "import", str(tmp_path / "absent.env"))
    assert missing.returncode == 1 and "not a file" in missing.stderr


def test_destructive_needs_confirmation(live_platform: RunningPlatform) -> None:
    run(live_platform, "env", "set", "GONE", "--value", "x")
    refused = run(live_platform, "env", "unset", "GONE", stdin="n\n")
    assert refused.returncode != 0
    assert run(live_platform, "env", "unset", "GONE", "--yes").returncode == 0


def test_platform_down_says_what_to_do(live_platform: RunningPlatform) -> None:
    env = live_platform.env | {"CODEFORGE_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run([*CLI, "env", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "codeforge up" in result.stderr and "Traceback" not in result.stderr


def test_up_bootstraps_and_prints_how_to_connect(tmp_path: Path) -> None:
    folder = tmp_path / "My App"
    folder.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    env |= {
        "CODEFORGE_CONFIG_DIR": str(tmp_path / "cfg"),
        "CODEFORGE_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }
    for attempt in range(2):  # the second start finds the owner and keeps the token
        proc = subprocess.Popen(
            [*CLI, "up", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            creds = json.loads((tmp_path / "cfg" / "credentials.json").read_text())
            assert creds["project"] == "my-app" and creds["token"].startswith("cf_")
            assert oct((tmp_path / "cfg" / "credentials.json").stat().st_mode)[-3:] == "600"
            if attempt == 0:
                first_token = creds["token"]
            else:
                assert creds["token"] == first_token
            listed = subprocess.run(
                [*CLI, "env", "list", "--json"], cwd=folder, env=env, capture_output=True, text=True
            )
            assert listed.returncode == 0, listed.stderr
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert "CodeForge is running" in err and "Neovim" in err and "my-app" in err
        assert all(line in err for line in editor_setup_lines())


def test_banner_and_readmes_agree_on_editor_setup() -> None:
    """What `codeforge up` prints for each editor is what README.md and the editor's own README say."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    banner = "\n".join(editor_setup_lines())
    for needle, own_readme in (
        (VSCODE_INSTALL, "extensions/vscode/README.md"),
        ("'runtimepath'", "extensions/nvim/README.md"),
        ("LSP4IJ", "extensions/jetbrains/README.md"),
        ("codeforge lsp", "extensions/README.md"),
    ):
        assert needle in banner and needle in readme, needle
        assert needle.strip("'") in (root / own_readme).read_text(), (needle, own_readme)
    assert "extensions/jetbrains/codeforge" in banner and (root / "extensions/jetbrains/codeforge").is_dir()
    script = root / "extensions/vscode/scripts/install.sh"
    assert script.is_file() and "vscode:" in (root / "Makefile").read_text(), "the banner's `make vscode` must exist"
    assert f"`{VSCODE_INSTALL}` in {root}" in banner, "the banner says where to run it"


def test_admin_creates_an_isolated_organization(live_platform: RunningPlatform) -> None:
    created = run(live_platform, "admin", "create-org", "rival", "--owner", "rival-boss", "--project", "their-app")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    env = live_platform.env | {"CODEFORGE_TOKEN": token, "CODEFORGE_PROJECT": "demo"}
    theirs = subprocess.run([*CLI, "projects", "list", "--json"], env=env, capture_output=True, text=True)
    assert [p["slug"] for p in json.loads(theirs.stdout)["items"]] == ["their-app"]
    peek = subprocess.run([*CLI, "env", "list"], env=env, capture_output=True, text=True)
    assert peek.returncode == 1 and "does not exist in your organization" in peek.stderr
    again = run(live_platform, "admin", "create-org", "rival", "--owner", "someone")
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = run(live_platform, "admin", "create-org", "Not A Slug", "--owner", "x")
    assert bad.returncode == 2 and "not a valid organization slug" in bad.stderr


def test_list_tables_keep_to_the_terminal_width(live_platform: RunningPlatform) -> None:
    long_value = "v" * 100
    assert run(live_platform, "env", "set", "WIDE_VAR", "--value", long_value).returncode == 0
    narrow = subprocess.run(
        [*CLI, "env", "list"], env=live_platform.env | {"COLUMNS": "80"}, capture_output=True, text=True, timeout=120
    )
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), narrow.stdout
    assert any("WIDE_VAR" in line for line in lines)  # the first column always stays, whole
    assert "not shown: value" in narrow.stdout and "--json" in narrow.stdout
    wide = run(live_platform, "env", "list")  # 200 columns: everything fits
    assert long_value in wide.stdout and "not shown" not in wide.stdout


def test_help_shows_each_fields_type() -> None:
    """Ints as ints with their range, enums as choices, booleans as flags (not `<str>`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")} | {"COLUMNS": "200"}
    jobs = subprocess.run([*CLI, "jobs", "list", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert jobs.returncode == 0, jobs.stderr
    limit = next(line for line in jobs.stdout.splitlines() if "--limit" in line)
    assert "<int range> [1<=x<=500]" in limit and "<str>" not in limit
    assert "queued|running|succeeded|failed|cancelled" in jobs.stdout
    bad = subprocess.run([*CLI, "jobs", "list", "--limit", "many"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Invalid value for '--limit'" in bad.stderr and "integer" in bad.stderr
    env_set = subprocess.run([*CLI, "env", "set", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert "--secret" in env_set.stdout and "--no-secret" in env_set.stdout


def test_commands_start_without_the_language_server() -> None:
    """Only `codeforge lsp` loads the language server (a quarter of a second of imports);
    its `--help` still lists the server's options."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, codeforge.cli; print('codeforge.lsp' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "False", loaded.stderr


def test_serve_writes_no_client_credentials(tmp_path: Path) -> None:
    """Only `codeforge up` saves a login; the platform service never writes client files."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    env |= {
        "CODEFORGE_CONFIG_DIR": str(tmp_path / "cfg"),
        "CODEFORGE_DATA_DIR": str(tmp_path / "data"),
        "CODEFORGE_BOOTSTRAP": "1",  # what made `serve` write them before
    }
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert not (tmp_path / "cfg").exists()
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
