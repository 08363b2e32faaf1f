"""The four roles' own checks, run in a real sandbox (bubblewrap) over the fixture projects:
what each accepts and refuses, the Refactor's refusal of code whose tests fail already, and the
Test Writer's mutant check (a test that also passes on a mutant is refused; the target is
restored after the check). The workspace is never written."""

from __future__ import annotations

from collections.abc import Callable

from codeforge.platform.agents.mutants import find_killer
from codeforge.platform.agents.roles import ROLES, is_test_file
from codeforge.platform.agents.task import Task
from tests.agents.fixtures.projects import STRONG_PRICING_TESTS, TEST_COMMAND, Project, project

__all__ = ["project"]

Make = Callable[[str], Project]

WEAK_TESTS = """from pricing import total


def test_total_is_there() -> None:
    assert total.__doc__
"""


def test_roles_are_the_four_agents_with_their_tools() -> None:
    assert set(ROLES) == {"bug_fixer", "test_writer", "refactor", "feature_builder"}
    for role in ROLES.values():
        assert "finish" in role.tools and "edit" in role.tools and "run_tests" in role.tools
        prompt = role.system_prompt(Task(role.name, "x"), "calc.py:\n  def add")
        assert role.title in prompt and "finish" in prompt and "def add" in prompt
        assert "python -m pytest -q" in prompt


def test_test_files_by_convention() -> None:
    for path in ("tests/test_a.py", "test_a.py", "a_test.go", "src/a.test.ts", "spec/a_spec.rb", "conftest.py"):
        assert is_test_file(path), path
    for path in ("calc.py", "src/testing_utils.py", "contest.py"):
        assert not is_test_file(path), path


def test_bug_fixer_accepts_only_when_the_failing_test_and_the_others_pass(project: Make) -> None:
    p = project("bug_fixer")
    role = ROLES["bug_fixer"]
    task = Task(
        "bug_fixer",
        "add returns the wrong sum",
        path="calc.py",
        line=5,
        test="test_calc.py::test_add",
        test_command=TEST_COMMAND,
    )
    prep = role.prepare(p.sandbox, task)
    assert not prep.stop and "test_add" in prep.note and "failed" in prep.note
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "test_calc.py::test_add still fails" in output and "assert -1 == 5" in output
    p.write("calc.py", p.read("calc.py").replace("a - b", "a + b"))
    ok, output = role.accept(p.sandbox, task)
    assert ok, output
    # A fix that breaks another test is refused.
    p.write("calc.py", p.read("calc.py").replace("a * b", "a ** b"))
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "other tests must still pass" in output and "test_mul" in output
    assert p.unchanged()


def test_refactor_refuses_code_whose_tests_fail_before(project: Make) -> None:
    p = project("bug_fixer")
    prep = ROLES["refactor"].prepare(
        p.sandbox, Task("refactor", "rename add", path="calc.py", test_command=TEST_COMMAND)
    )
    assert prep.stop.startswith("the tests fail before the refactoring")
    assert "Bug Fixer" in prep.stop


def test_refactor_needs_a_change_and_passing_tests(project: Make) -> None:
    p = project("refactor")
    role = ROLES["refactor"]
    task = Task(
        "refactor", "square_area should call rectangle_area", path="shapes.py", line=10, test_command=TEST_COMMAND
    )
    assert role.prepare(p.sandbox, task).stop == ""
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "nothing changed" in output
    p.write("shapes.py", p.read("shapes.py").replace("raise ValueError", "return 0.0  #"))
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "must pass after" in output and "test_negative" in output
    p.write(
        "shapes.py",
        p.read("shapes.py").replace("return 0.0  #", "raise ValueError").split("def square_area")[0]
        + "def square_area(side: float) -> float:\n    return rectangle_area(side, side)\n",
    )
    ok, output = role.accept(p.sandbox, task)
    assert ok, output
    assert p.unchanged()


def test_feature_builder_needs_tests_and_code(project: Make) -> None:
    p = project("feature_builder")
    role = ROLES["feature_builder"]
    task = Task("feature_builder", "slugify", path="text.py", line=8, test_command=TEST_COMMAND)
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "no test file was added or changed" in output
    p.write(
        "test_slug.py", "from text import slugify\n\n\ndef test_slug() -> None:\n    assert slugify('A b') == 'a-b'\n"
    )
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "implement the feature too" in output
    p.write("text.py", p.read("text.py") + "\n\ndef slugify(title: str) -> str:\n    return title\n")
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "the tests must pass" in output
    p.write("text.py", p.read("text.py").replace("return title", "return '-'.join(title.lower().split())"))
    ok, output = role.accept(p.sandbox, task)
    assert ok, output
    assert p.unchanged()


def test_test_writer_refuses_tests_that_pass_on_a_mutant(project: Make) -> None:
    p = project("test_writer")
    role = ROLES["test_writer"]
    task = Task("test_writer", "tests for total", path="pricing.py", line=4, test_command=TEST_COMMAND)
    original = p.read("pricing.py")
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "no test file" in output
    p.write("tests/test_pricing.py", WEAK_TESTS)
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "also pass on all" in output, output
    assert p.read("pricing.py") == original  # every mutant was taken out again
    p.write("tests/test_pricing.py", STRONG_PRICING_TESTS)
    ok, output = role.accept(p.sandbox, task)
    assert ok and "fail on a mutant" in output, output
    assert p.read("pricing.py") == original
    assert p.changed() == ["tests/test_pricing.py"]
    assert p.unchanged()


def test_test_writer_refuses_failing_tests_and_changes_to_the_target(project: Make) -> None:
    p = project("test_writer")
    role = ROLES["test_writer"]
    task = Task("test_writer", "tests for total", path="pricing.py", line=4, test_command=TEST_COMMAND)
    p.write("test_pricing.py", STRONG_PRICING_TESTS.replace("== 9.0\n\n\ndef test_neg", "== 9.5\n\n\ndef test_neg"))
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "must pass on the current code" in output
    p.write("test_pricing.py", STRONG_PRICING_TESTS)
    p.write("pricing.py", p.read("pricing.py").replace("0.9", "0.8"))
    ok, output = role.accept(p.sandbox, task)
    assert not ok and "changes tests only" in output and "pricing.py" in output


def test_test_writer_needs_an_existing_target(project: Make) -> None:
    p = project("test_writer")
    role = ROLES["test_writer"]
    assert "needs a target" in role.prepare(p.sandbox, Task("test_writer", "tests", test_command=TEST_COMMAND)).stop
    assert (
        "does not exist"
        in role.prepare(p.sandbox, Task("test_writer", "t", path="nope.py", test_command=TEST_COMMAND)).stop
    )
    assert (
        "not a file of the project"
        in role.prepare(p.sandbox, Task("test_writer", "t", path="../x.py", test_command=TEST_COMMAND)).stop
    )


def test_find_killer_restores_the_target_and_names_the_mutant(project: Make) -> None:
    p = project("test_writer")
    p.write("test_pricing.py", STRONG_PRICING_TESTS)
    original = p.read("pricing.py")
    check = find_killer(p.sandbox, "pricing.py", TEST_COMMAND + " test_pricing.py", line=4, limit=5)
    assert check.killed is not None and check.tried >= 1 and check.total == 5
    assert check.killed.description.startswith("line ")
    assert p.read("pricing.py") == original
    p.write("names.py", "import os\n\nNAME = None\n")
    broken = find_killer(p.sandbox, "names.py", "true")
    assert broken.killed is None and "nothing to mutate" in broken.error


def test_bug_fixer_from_a_diagnostic_runs_the_whole_test_command(project: Make) -> None:
    p = project("bug_fixer")
    role = ROLES["bug_fixer"]
    task = Task("bug_fixer", "calc.py:5: add subtracts", path="calc.py", line=5, test_command=TEST_COMMAND)
    assert "1 failed, 1 passed" in role.prepare(p.sandbox, task).note
    assert "Where: calc.py, line 5" in role.task_message(task)
    ok, output = role.accept(p.sandbox, task)
    assert not ok and output.startswith("the tests must pass") and "test_add" in output
    p.write("calc.py", p.read("calc.py").replace("a - b", "a + b"))
    assert role.accept(p.sandbox, task)[0]
