"""The VS Code extension's TypeScript unit tests (node --test), over the live catalog too."""

from __future__ import annotations

from pathlib import Path

from tests.extensions.conftest import catalog_json, run_logged
from tests.extensions.vscode_harness import VSCODE, ensure_npm_deps, node_env


def test_schema_to_prompt_unit_tests_pass(tmp_path: Path) -> None:
    ensure_npm_deps()
    env = {**node_env(), "CODEFORGE_CATALOG_JSON": str(catalog_json(tmp_path / "catalog.json"))}
    output = run_logged(["npm", "test"], cwd=VSCODE, env=env)
    assert "# fail 0" in output, output[-4000:]
    # The live-catalog test ran rather than skipped.
    assert "# skipped 0" in output, output[-4000:]


def test_extension_type_checks() -> None:
    ensure_npm_deps()
    run_logged(["npm", "run", "typecheck"], cwd=VSCODE)
