"""codeforge.yaml's model and the editor-side analysis, without a platform."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from codeforge.catalog.env import EnvVariable
from codeforge.lsp.project_yaml import analyse, cursor_context, key_at, schema_at
from codeforge.projectfile import ProjectFile, ProjectFileError, parse_project_file, plan_env


def test_shorthand_and_full_entries() -> None:
    model = parse_project_file(
        "project: shop\nenv:\n  PORT: 8080\n  DEBUG: false\n  MODE:\n    value: prod\n  KEY:\n    secret: true\n"
    )
    assert model.project == "shop"
    assert model.env["PORT"].value == "8080" and model.env["DEBUG"].value == "false"
    assert model.env["MODE"].value == "prod" and model.env["KEY"].secret and model.env["KEY"].value is None


def test_empty_file_is_an_empty_project_file() -> None:
    assert parse_project_file("") == ProjectFile()
    assert parse_project_file("# only a comment\n") == ProjectFile()


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("colour: red\n", "colour", "unknown key `colour`"),
        ("project: Not A Slug\n", "project", "not a project slug"),
        ("env:\n  1BAD: x\n", "env.1BAD", "not a valid variable name"),
        ("env:\n  RATIO: 1.10\n", "env.RATIO", "quote it"),
        ("env:\n  KEY:\n    secret: true\n    value: hunter2\n", "env.KEY", "must not be written in codeforge.yaml"),
        ("env:\n  K:\n    secret: sometimes\n", "env.K.secret", "expected true or false"),
        ("env:\n  K:\n    colour: red\n", "env.K.colour", "unknown key `colour`"),
        ("env: [A, B]\n", "env", "expected a mapping"),
        ("- just\n- a list\n", "(file)", "expected a mapping of keys"),
        ("project: [\n", "line 2, column 1", "not valid YAML"),
    ],
)
def test_problems_name_the_field_and_the_fix(text: str, field: str, words: str) -> None:
    with pytest.raises(ProjectFileError) as info:
        parse_project_file(text)
    [problem] = info.value.errors
    assert problem.field == field
    assert words in problem.message + ": " + problem.fix
    assert problem.fix
    assert "hunter2" not in info.value.message  # values are never echoed


def test_secret_values_are_not_echoed_in_problems() -> None:
    with pytest.raises(ProjectFileError) as info:
        parse_project_file("env:\n  KEY:\n    secret: true\n    value: hunter2\n")
    assert "hunter2" not in info.value.message


def _var(name: str, value: str | None, secret: bool = False) -> EnvVariable:
    return EnvVariable(name=name, secret=secret, value=value, updated_at=datetime.now(UTC), updated_by="me")


def test_plan_sets_what_differs_and_reports_the_rest() -> None:
    model = parse_project_file(
        "env:\n  SAME: 1\n  DIFF: new\n  NEW: x\n  WAS_SECRET: plain\n  DECLARED:\n    secret: true\n"
        "  PRESENT:\n    description: set by hand\n"
    )
    current = [_var("SAME", "1"), _var("DIFF", "old"), _var("WAS_SECRET", None, secret=True), _var("PRESENT", "v")]
    plan = plan_env("shop", model, current)
    assert [(d.name, d.value, d.project, d.secret) for d in plan.to_set] == [
        ("DIFF", "new", "shop", False),
        ("NEW", "x", "shop", False),
    ]
    assert plan.unchanged == ["SAME"]
    assert plan.conflicts == ["WAS_SECRET"]
    assert plan.missing == ["DECLARED"]


def test_analysis_locates_problems() -> None:
    text = "project: demo\nenv:\n  OK: 1\n  9LIVES: x\n  K:\n    secret: perhaps\nextra: 1\nenv2:\n"
    problems = {(p.span.line, p.span.column, p.span.end_column): p.message for p in analyse(text).problems}
    assert (3, 2, 8) in problems and "9LIVES" in problems[(3, 2, 8)]
    assert (5, 12, 19) in problems and "true or false" in problems[(5, 12, 19)]
    assert (6, 0, 5) in problems and "unknown key `extra`" in problems[(6, 0, 5)]
    assert (7, 0, 4) in problems


def test_duplicate_keys_are_reported() -> None:
    [problem] = analyse("env:\n  A: 1\n  A: 2\n").problems
    assert problem.span.line == 2 and "duplicate key `A`" in problem.message


def test_a_text_is_analysed_once_per_model() -> None:
    # Diagnostics, checks, code actions, hover and commands on one document version share
    # one parse; a model with other capabilities' sections parses again.
    from pydantic import create_model

    from codeforge.lsp.project_yaml import current_model, use_model

    text = "project: demo\nenv:\n  A: 1\n"
    first = analyse(text)
    assert analyse(text) is first and first.model is not None
    before = current_model()
    use_model(create_model("ProjectFile", __base__=ProjectFile, extra_section=(dict[str, str], {})))
    try:
        assert analyse(text) is not first
    finally:
        use_model(before)
    assert analyse(text) is first


def test_cursor_context_while_typing() -> None:
    text = "project: demo\nenv:\n  FOO:\n    sec\n  BAR: 1\n"
    ctx = cursor_context(text, 3, 7)
    assert ctx.path == ["env", "FOO"] and not ctx.in_value and ctx.typed == "sec"
    ctx = cursor_context("env:\n  FOO:\n    secret: t", 2, 13)
    assert ctx.path == ["env", "FOO", "secret"] and ctx.in_value and ctx.typed == "t"
    top = cursor_context(text, 5, 0)
    assert top.path == [] and top.siblings == {"project", "env"}


def test_schema_walk() -> None:
    assert schema_at(["env", "ANY_NAME", "secret"])["type"] == "boolean"  # type: ignore[index]
    assert schema_at(["nope"]) is None
    assert set(schema_at(["env", "X"])["properties"]) == {"value", "secret", "description"}  # type: ignore[index]


def test_key_at_for_hover() -> None:
    found = key_at("project: demo\nenv:\n  FOO:\n    secret: true\n", 3, 6)
    assert found is not None and found[0] == ["env", "FOO", "secret"]
    assert key_at("project: demo\n", 0, 11) is None  # on the value, not the key


@pytest.mark.parametrize(
    ("text", "says", "line"),
    [
        # A capability's section names the model the unknown key sits in, at any depth.
        ("monitoring:\n  colour: red\n", "`monitoring` takes `paths`", 1),
        ("deploy:\n  web:\n    workspace: app\n    colour: red\n", "a deployment entry takes `workspace`, `image`", 3),
        (
            "domains:\n  a.example.test:\n    records:\n      - type: A\n        values: [192.0.2.1]\n        colour: x\n",
            "a DNS record entry takes `name`, `type`, `values`, `ttl`",
            5,
        ),
        # A list item's problem is at its line, not at the list's key.
        (
            "domains:\n  a.example.test:\n    records:\n      - {type: A, values: [192.0.2.1]}\n      - {type: TXT, values: []}\n",
            "at least 1 item",
            4,
        ),
    ],
)
def test_sections_of_capabilities_name_their_models_and_lines(text: str, says: str, line: int) -> None:
    from codeforge.project import project_file_model

    model = project_file_model()
    try:
        parse_project_file(text, model=model)
    except ProjectFileError as exc:
        assert says in str(exc.errors[0])
    else:
        raise AssertionError("no problem found")
    from codeforge.lsp import project_yaml

    project_yaml.use_model(model)
    try:
        problems = analyse(text).problems
    finally:
        project_yaml.use_model(ProjectFile)
    assert [p.span.line for p in problems] == [line], problems
    assert says in problems[0].message
