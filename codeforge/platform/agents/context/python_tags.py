"""Definitions and references of a Python file, through `ast`.

Definitions: functions, classes, methods, and assignments at module or class level (class-level
ones are dataclass fields, enum members, constants). References: every name and attribute read,
and the imports, which also name the module they come from (a `MODULE_PREFIX` identifier that
the imported file defines), so `from .store import save` links to store.py even when `save` is
defined in many files."""

from __future__ import annotations

import ast
import posixpath

from .symbols import MODULE_PREFIX, FileTags, Symbol

__all__ = ["module_names", "parse_python"]

_MAX_SIGNATURE = 200
_MAX_HEADER_LINES = 6


def module_names(path: str) -> set[str]:
    """The dotted names the file can be imported as: every suffix of its path, so `src/pkg/m.py`
    answers `pkg.m` (a src layout) and `src.pkg.m` alike."""
    stem, ext = posixpath.splitext(path)
    if ext not in (".py", ".pyi"):
        return set()
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts)) if all(p.isidentifier() for p in parts[i:])}


def _package_of(path: str) -> list[str]:
    parts = posixpath.splitext(path)[0].split("/")
    return parts[:-1]  # for pkg/__init__.py that is ["pkg"], the package itself, as Python has it


# Assignments that define names (`type X = …` only from Python 3.12).
_ASSIGNMENTS: tuple[type[ast.stmt], ...] = tuple(
    t for t in (ast.Assign, ast.AnnAssign, getattr(ast, "TypeAlias", None)) if t is not None
)


def _header(lines: list[str], node: ast.stmt, first: int) -> str:
    """The definition's header as one line: `def f(a,\\n b) -> int:` becomes `def f(a, b) -> int:`;
    an assignment's first line says enough."""
    last = first
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
        last = max(first, min(node.body[0].lineno - 1, first + _MAX_HEADER_LINES - 1))
    chunk = lines[first - 1 : last]
    if not chunk:
        return ""
    text = chunk[0].rstrip() + "".join(" " + part.strip() for part in chunk[1:])
    return text if len(text) <= _MAX_SIGNATURE else text[: _MAX_SIGNATURE - 1] + "…"


class _Collector:
    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.tags = FileTags(path=path, language="python", modules={MODULE_PREFIX + m for m in module_names(path)})
        base = posixpath.basename(path)
        self.fixture_params = base.startswith("test") or base == "conftest.py"
        self.bound: set[str] = set()  # names the module imports or defines at its top level
        self.module_aliases: set[str] = set()  # of those, the ones `import x` binds: modules for sure

    def symbol(self, node: ast.stmt, name: str, kind: str, parent: str, line: int | None = None) -> None:
        line = line or node.lineno
        decorators = getattr(node, "decorator_list", None) or []
        start = min([d.lineno for d in decorators] + [line])
        self.tags.symbols.append(
            Symbol(
                name=name,
                kind=kind,
                path=self.path,
                line=line,
                end_line=node.end_lineno or line,
                signature=_header(self.lines, node, line),
                parent=parent,
                start_line=start,
            )
        )

    def definitions(self, body: list[ast.stmt], parent: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.symbol(node, node.name, "method" if in_class else "function", parent)
            elif isinstance(node, ast.ClassDef):
                self.symbol(node, node.name, "class", parent)
                self.definitions(node.body, node.name, True)
            elif isinstance(node, _ASSIGNMENTS):
                targets = node.targets if isinstance(node, ast.Assign) else [_target(node)]
                for target in targets:
                    for name in _assigned_names(target):
                        self.symbol(node, name, "attribute" if in_class else "variable", parent)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.TryStar) and not in_class:
                # `try: import x` / `if TYPE_CHECKING:` blocks still define at module level.
                for block in ("body", "orelse", "finalbody"):
                    self.definitions(getattr(node, block, []) or [], parent, in_class)
                for handler in getattr(node, "handlers", []) or []:
                    self.definitions(handler.body, parent, in_class)

    def references(self, tree: ast.Module) -> None:
        """Names the file imports (or defines) and reads, methods called (`x.save()` uses
        `.save`), and attributes of imported names (`errors.BadInput` uses `BadInput`). Left out: local
        variables and builtins (a name another file defines reaches this one only through an
        import), and an object's plain attribute reads (`task.path`), as Aider's tags do: they
        name data, and every file has a `path`."""
        add = self.tags.add_ref
        package = _package_of(self.path)
        names: list[tuple[str, int]] = []
        attributes: list[tuple[str, str, int]] = []
        calls: list[tuple[str, str, int]] = []  # `base.attr(…)`, already counted as `.attr`
        self.bound |= {s.name for s in self.tags.symbols if not s.parent}
        name_t, attr_t, call_t, store_t = ast.Name, ast.Attribute, ast.Call, ast.Store
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        stack: list[ast.AST] = [tree]
        # A hand-rolled walk: ast.walk's generators cost twice as much on a big tree.
        while stack:
            node = stack.pop()
            cls = node.__class__
            if cls is name_t:
                if node.ctx.__class__ is not store_t:  # type: ignore[attr-defined]
                    names.append((node.id, node.lineno))  # type: ignore[attr-defined]
                continue
            if cls is attr_t:
                value = node.value  # type: ignore[attr-defined]
                if value.__class__ is name_t:
                    attributes.append((value.id, node.attr, node.lineno))  # type: ignore[attr-defined]
                stack.append(value)
                continue
            if cls is call_t:
                func = node.func  # type: ignore[attr-defined]
                if func.__class__ is attr_t:
                    add("." + func.attr, func.lineno)
                    if func.value.__class__ is name_t:
                        calls.append((func.value.id, func.attr, func.lineno))
                    stack.append(func.value)
                    stack.extend(node.args)  # type: ignore[attr-defined]
                    stack.extend(node.keywords)  # type: ignore[attr-defined]
                    continue
            elif cls is ast.Import or cls is ast.ImportFrom:
                self.imports(node, package)  # type: ignore[arg-type]
                continue
            elif cls in functions and self.fixture_params:
                # pytest fixtures are used by naming them as parameters.
                args = node.args  # type: ignore[attr-defined]
                for arg in args.posonlyargs + args.args + args.kwonlyargs:
                    if arg.arg not in ("self", "cls"):
                        add(arg.arg, arg.lineno)
            for name in node._fields:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    stack.extend(v for v in value if isinstance(v, ast.AST))
                elif isinstance(value, ast.AST):
                    stack.append(value)
        # Imports anywhere in the file count (those inside functions too), hence after the walk.
        bound, star = self.bound, "*" in self.bound
        for ident, line in names:
            if star or ident in bound:
                add(ident, line)
        # `errors.BadInput`: a module's top-level name when `errors` is a module (`import`),
        # either that or a class member (`Cart.create`) when it came by `from … import`.
        modules = self.module_aliases
        for base, attr, line in attributes:
            if base in modules:
                add(attr, line)
            elif base in bound:
                add(attr, line)
                add("." + attr, line)
        for base, attr, line in calls:
            if base in bound:
                add(attr, line)

    def imports(self, node: ast.Import | ast.ImportFrom, package: list[str]) -> None:
        add = self.tags.add_ref
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(MODULE_PREFIX + alias.name, node.lineno)
                self.bound.add(alias.asname or alias.name.split(".")[0])
                self.module_aliases.add(alias.asname or alias.name.split(".")[0])
            return
        module = node.module or ""
        if node.level:
            anchor = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            module = ".".join([*anchor, *([module] if module else [])])
        if module:
            add(MODULE_PREFIX + module, node.lineno)
        for alias in node.names:
            self.bound.add(alias.asname or alias.name)
            if alias.name == "*":
                continue
            add(alias.name, node.lineno)
            # `from pkg import mod` imports a module as often as a name.
            add(MODULE_PREFIX + (f"{module}.{alias.name}" if module else alias.name), node.lineno)


def _target(node: ast.stmt) -> ast.expr:
    target = getattr(node, "target", None) or getattr(node, "name", None)  # AnnAssign, TypeAlias
    assert isinstance(target, ast.expr)
    return target


def _assigned_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _assigned_names(elt)]
    return []


def parse_python(path: str, text: str) -> FileTags:
    """The file's tags; raises SyntaxError (the caller falls back to tree-sitter) or ValueError
    (NUL bytes) when `ast` cannot read it."""
    tree = ast.parse(text, filename=path)
    collector = _Collector(path, text.splitlines())
    collector.definitions(tree.body, "", False)
    collector.references(tree)
    return collector.tags
