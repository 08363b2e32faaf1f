"""Mutants of a Python module, for the Test Writer's self-check: tests that pass on the code and
on a mutant of it as well test nothing there. Each mutant changes one thing through the `ast`
(a comparison flipped, a condition negated, a constant changed, an arithmetic or boolean
operator swapped, a return value removed); `find_killer` applies them one at a time in the
sandbox copy, runs the tests and restores the file, so the verdict is code, not the model's word."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codeforge.platform.agents.sandbox import CommandCancelled

if TYPE_CHECKING:
    from codeforge.platform.agents.sandbox import Sandbox

__all__ = ["Mutant", "MutantCheck", "find_killer", "mutants"]

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}


@dataclass(frozen=True)
class Mutant:
    index: int  # in the module's mutant order
    line: int  # 1-based, of the changed node
    kind: str  # compare | condition | constant | arithmetic | boolean | return
    description: str  # "line 4: < → >="
    source: str  # the whole mutated module


@dataclass
class MutantCheck:
    killed: Mutant | None  # the first mutant the tests failed on
    tried: int
    total: int  # mutants of the focused code
    error: str = ""  # why no check could run (no mutants, the target does not parse)

    @property
    def message(self) -> str:
        if self.error:
            return self.error
        if self.killed:
            return f"the tests fail on a mutant of the target ({self.killed.description}): they test it"
        return (
            f"the tests also pass on all {self.tried} mutants tried of {self.total} "
            "(comparisons flipped, conditions negated, constants and operators changed, return values removed): "
            "assert the target's results exactly, including edge cases"
        )


_SYMBOL: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.GtE: ">=",
    ast.Gt: ">",
    ast.LtE: "<=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
}


def _op_name(op: ast.AST) -> str:
    return _SYMBOL.get(type(op), type(op).__name__)


def _skipped(tree: ast.Module) -> set[int]:
    """Node ids never mutated: docstrings and annotations (changing them changes no behaviour)."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
            for a in [
                *node.args.posonlyargs,
                *node.args.args,
                *node.args.kwonlyargs,
                node.args.vararg,
                node.args.kwarg,
            ]:
                if a is not None:
                    mark(a.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
    return skip


def _sites(tree: ast.Module) -> Iterator[tuple[int, int, ast.AST]]:
    """(walk index, variant, node) of every mutable spot, in a fixed order for one source."""
    skip = _skipped(tree)
    for i, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                if type(op) in _FLIP:
                    yield i, j, node
        elif _mutable(node):
            yield i, 0, node


def _mutable(node: ast.AST) -> bool:
    if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert | ast.BoolOp):
        return True
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, bool, str)
    if isinstance(node, ast.BinOp | ast.AugAssign):
        return type(node.op) in _SWAP
    if isinstance(node, ast.Return) and node.value is not None:
        return not (isinstance(node.value, ast.Constant) and node.value.value is None)
    return False


def _mutate(node: ast.AST, variant: int) -> tuple[str, str]:
    """Change `node` in place; returns (kind, what changed)."""
    if isinstance(node, ast.Compare):
        old = node.ops[variant]
        new = _FLIP[type(old)]()
        node.ops[variant] = new
        return "compare", f"{_op_name(old)} → {_op_name(new)}"
    if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
        node.test = ast.UnaryOp(ast.Not(), node.test)
        return "condition", "condition negated"
    if isinstance(node, ast.Constant):
        value = node.value
        new_value: object
        if isinstance(value, bool):
            new_value = not value
        elif isinstance(value, int | float):
            new_value = value + 1 if value != 1 else 0
        else:
            new_value = "" if value else "mutant"
        node.value = new_value
        return "constant", f"{value!r} → {new_value!r}"
    if isinstance(node, ast.BinOp | ast.AugAssign):
        old_op = node.op
        node.op = _SWAP[type(old_op)]()
        return "arithmetic", f"{_op_name(old_op)} → {_op_name(node.op)}"
    if isinstance(node, ast.BoolOp):
        was_and = isinstance(node.op, ast.And)
        node.op = ast.Or() if was_and else ast.And()
        return "boolean", "and → or" if was_and else "or → and"
    if isinstance(node, ast.Return):
        node.value = None
        return "return", "return value removed"
    raise AssertionError(f"not a mutation site: {type(node).__name__}")


def _focus_range(tree: ast.Module, line: int, end_line: int) -> tuple[int, int] | None:
    """The lines to mutate: the innermost def/class around `line` (or the selection), else all."""
    if line <= 0:
        return None
    best: tuple[int, int] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            if start <= line <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
    if best is None and end_line >= line:
        return (line, end_line)
    return best


def mutants(source: str, *, line: int = 0, end_line: int = 0, limit: int = 60) -> list[Mutant]:
    """Up to `limit` mutants of `source`, of the def/class around `line` when given (else the
    whole module), each differing from the original. Raises SyntaxError when it does not parse."""
    tree = ast.parse(source)
    original = ast.unparse(tree)
    span = _focus_range(tree, line, end_line)
    found: list[Mutant] = []
    for walk_index, variant, node in list(_sites(tree)):
        lineno = getattr(node, "lineno", 0)
        if span and not span[0] <= lineno <= span[1]:
            continue
        # A fresh copy per mutant: the walk order of an identical tree picks the same node.
        clone = copy.deepcopy(tree)
        target = next(n for k, n in enumerate(ast.walk(clone)) if k == walk_index)
        kind, what = _mutate(target, variant)
        ast.fix_missing_locations(clone)
        mutated = ast.unparse(clone)
        if mutated == original:
            continue
        found.append(Mutant(len(found), lineno, kind, f"line {lineno}: {what}", mutated + "\n"))
        if len(found) >= limit:
            break
    return found


def find_killer(
    sandbox: Sandbox,
    path: str,
    command: str,
    *,
    line: int = 0,
    end_line: int = 0,
    limit: int = 30,
    timeout: float = 60.0,
    cancelled: Callable[[], bool] = lambda: False,
) -> MutantCheck:
    """Apply the target's mutants one at a time in the sandbox copy, run `command` (the new
    tests) on each and restore the file; stops at the first mutant the tests fail on. A run
    that times out counts as failing (a negated loop condition may never end)."""
    file = sandbox.resolve(path)
    try:
        original = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return MutantCheck(None, 0, 0, f"cannot read the target {path}: {exc}")
    try:
        candidates = mutants(original, line=line, end_line=end_line, limit=limit)
    except SyntaxError as exc:
        return MutantCheck(None, 0, 0, f"the target {path} does not parse (line {exc.lineno}): {exc.msg}")
    if not candidates:
        return MutantCheck(None, 0, 0, f"the target {path} has nothing to mutate: name a function with logic in it")
    tried = 0
    try:
        for mutant in candidates:
            if cancelled():
                raise CommandCancelled("cancelled during the mutant check")
            file.write_text(mutant.source, encoding="utf-8")
            _drop_bytecode(file)
            tried += 1
            result = sandbox.run(command, timeout=timeout, cancelled=cancelled)
            if result.exit_code != 0 or result.timed_out:
                return MutantCheck(mutant, tried, len(candidates))
    finally:
        file.write_text(original, encoding="utf-8")
        _drop_bytecode(file)
    return MutantCheck(None, tried, len(candidates))


def _drop_bytecode(file: Path) -> None:
    """Cached bytecode of the target (copied from the workspace, or written by a test run) could
    hide a same-size mutant written within the same second; removing it forces a recompile."""
    cache = file.parent / "__pycache__"
    if cache.is_dir():
        for pyc in cache.glob(f"{file.stem}.*.pyc"):
            pyc.unlink(missing_ok=True)
