"""mutants.py: each kind of mutant, focus on one function, nothing of docstrings and annotations,
and (with a real sandbox, tests/agents/test_roles.py) the kill check restoring the target."""

from __future__ import annotations

import ast

import pytest

from codeforge.platform.agents.mutants import MutantCheck, mutants

SOURCE = '''"""A module."""

LIMIT: int = 10


def clamp(x: int, lo: int = 0) -> int:
    """Clamp x to [lo, LIMIT]."""
    if x < lo:
        return lo
    if x > LIMIT and lo is not None:
        return LIMIT
    return x * 2 - 1


def greet(name: str) -> str:
    return "hello " + name
'''


def _kinds(found: list) -> set[str]:
    return {m.kind for m in found}


def test_every_kind_is_made_and_each_mutant_parses_and_differs() -> None:
    found = mutants(SOURCE)
    assert _kinds(found) == {"compare", "condition", "constant", "arithmetic", "boolean", "return"}
    original = ast.unparse(ast.parse(SOURCE))
    for m in found:
        assert ast.unparse(ast.parse(m.source)) != original, m.description
    descriptions = {m.description for m in found}
    assert "line 8: < → >=" in descriptions
    assert "line 10: is not → is" in descriptions
    assert "line 12: * → +" in descriptions
    assert "line 10: and → or" in descriptions


def test_mutants_behave_differently() -> None:
    namespace: dict = {}
    exec(compile(SOURCE, "m", "exec"), namespace)
    assert namespace["clamp"](3) == 5
    results = set()
    for m in mutants(SOURCE, line=8):
        ns: dict = {}
        exec(compile(m.source, "m", "exec"), ns)
        results.add((ns["clamp"](3), ns["clamp"](-1), ns["clamp"](50)))
    assert (namespace["clamp"](3), namespace["clamp"](-1), namespace["clamp"](50)) == (5, 0, 10)
    assert len(results - {(5, 0, 10)}) >= 5  # most mutants change what clamp returns


def test_focus_on_a_line_mutates_only_its_function() -> None:
    found = mutants(SOURCE, line=16)  # inside greet
    assert found
    assert {m.line for m in found} <= {16}
    assert all("clamp" in m.source for m in found)


def test_docstrings_and_annotations_are_left_alone() -> None:
    for m in mutants(SOURCE):
        assert '"""A module."""' in m.source and "Clamp x to [lo, LIMIT]." in m.source
        assert "x: int" in m.source and "-> int" in m.source and "LIMIT: int" in m.source


def test_limit_and_nothing_to_mutate() -> None:
    assert len(mutants(SOURCE, limit=3)) == 3
    assert mutants("def f(x):\n    pass\n") == []


def test_a_module_that_does_not_parse_raises_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        mutants("def f(:\n")


def test_check_messages_say_what_to_do() -> None:
    assert "nothing" in MutantCheck(None, 0, 0, "the target has nothing to mutate").message
    survived = MutantCheck(None, 5, 9).message
    assert "all 5 mutants tried of 9" in survived and "assert" in survived
