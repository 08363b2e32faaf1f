"""One set of options: flags and initializationOptions are the same model, resolved in one
place over the environment and the stored login."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.lsp.settings import (
    DEFAULT_URL,
    ServerOptions,
    add_option_flags,
    options_from_flags,
    parse_init_options,
    resolve_settings,
)


@pytest.fixture
def login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "credentials.json").write_text(
        json.dumps({"url": "http://stored:1/", "token": "stored-token", "project": "stored"})
    )
    for name in ("CODEFORGE_URL", "CODEFORGE_TOKEN", "CODEFORGE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEFORGE_CONFIG_DIR", str(config))
    return config


def test_init_options_win_over_flags_over_environment_over_login(login: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_settings() == resolve_settings(None, ServerOptions())
    stored = resolve_settings()
    assert (stored.url, stored.token, stored.project_override, stored.login_project, stored.show_results) == (
        "http://stored:1",
        "stored-token",
        "",
        "stored",
        "all",
    )
    monkeypatch.setenv("CODEFORGE_TOKEN", "env-token")
    monkeypatch.setenv("CODEFORGE_PROJECT", "from-env")
    flags = options_from_flags(["--url", "http://flag:2", "--project", "flagged", "--show-results", "changes"])
    init = parse_init_options({"url": "http://init:3/", "showResults": "none", "somethingNewer": 1})
    settings = resolve_settings(init, flags)
    assert settings.url == "http://init:3"  # init options first
    assert settings.project_override == "flagged"  # then flags
    assert settings.token == "env-token"  # then the environment, over the stored login
    assert settings.login_project == "from-env"  # the last resort, after codeforge.yaml
    assert settings.show_results == "none"


def test_one_model_gives_the_flags_and_the_options() -> None:
    parser = argparse.ArgumentParser()
    add_option_flags(parser)
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == set(ServerOptions.model_fields) == {"url", "token", "project", "show_results"}
    assert flags["show_results"].choices == ["all", "changes", "none"]
    assert flags["show_results"].option_strings == ["--show-results"]
    assert ServerOptions.model_validate({"show_results": "all"}).show_results == "all"  # snake_case too


@pytest.mark.parametrize(("raw", "words"), [([1], "must be an object"), ({"showResults": "sometimes"}, "showResults")])
def test_bad_initialization_options_name_the_key(raw: object, words: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_init_options(raw)
    assert words in info.value.message


def test_no_options_resolve_to_the_default_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFORGE_CONFIG_DIR", str(tmp_path / "nothing"))
    for name in ("CODEFORGE_URL", "CODEFORGE_TOKEN", "CODEFORGE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_settings().url == DEFAULT_URL


def test_codeforge_lsp_takes_the_options_flags_and_refuses_others() -> None:
    """`codeforge lsp` has no option list of its own: its flags are ServerOptions' fields."""
    from typer.testing import CliRunner

    from codeforge.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["lsp", "--help"])
    assert shown.exit_code == 0
    for flag in ("--url", "--token", "--project", "--show-results"):
        assert flag in shown.output
    wrong = runner.invoke(app, ["lsp", "--colour", "red"])
    assert wrong.exit_code == 2
    assert "unknown option(s): --colour red" in wrong.output
    bad_choice = runner.invoke(app, ["lsp", "--show-results", "nope"])
    assert bad_choice.exit_code == 2
    assert "invalid choice: 'nope'" in bad_choice.output
