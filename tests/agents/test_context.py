"""The context builder (codeforge/platform/agents/context): symbols and references through ast
and tree-sitter, the ranking for a focus, the budget, incremental updates and the watch."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.agents.context import Focus, MapCache, RepoMap
from codeforge.platform.agents.context.render import count
from codeforge.platform.agents.tokens import count_tokens

FIXTURE: dict[str, str] = {
    "shop/__init__.py": "",
    "shop/money.py": (
        "from decimal import Decimal\n"
        "\n"
        "CURRENCY = 'EUR'\n"
        "\n"
        "def round_cents(amount: Decimal) -> Decimal:\n"
        "    return amount.quantize(Decimal('0.01'))\n"
    ),
    "shop/cart.py": (
        "from dataclasses import dataclass, field\n"
        "from decimal import Decimal\n"
        "\n"
        "from .money import round_cents\n"
        "\n"
        "\n"
        "@dataclass\n"
        "class Item:\n"
        "    name: str\n"
        "    price: Decimal\n"
        "\n"
        "\n"
        "class Cart:\n"
        "    def __init__(self) -> None:\n"
        "        self.items: list[Item] = []\n"
        "\n"
        "    def add(self, item: Item) -> None:\n"
        "        self.items.append(item)\n"
        "\n"
        "    def total_with_discount(\n"
        "        self, discount: Decimal\n"
        "    ) -> Decimal:\n"
        "        return round_cents(sum(i.price for i in self.items) * (1 - discount))\n"
    ),
    "shop/shipping.py": (
        "from .cart import Cart\n"
        "\n"
        "FREE_ABOVE = 50\n"
        "\n"
        "def shipping_cost(cart: Cart) -> int:\n"
        "    return 0 if cart.total_with_discount(0) > FREE_ABOVE else 5\n"
    ),
    "shop/report.py": ("def monthly_report(rows):\n    return '\\n'.join(str(r) for r in rows)\n"),
    "tests/test_cart.py": (
        "from decimal import Decimal\n"
        "\n"
        "from shop.cart import Cart, Item\n"
        "\n"
        "\n"
        "class TestCart:\n"
        "    def test_discount(self):\n"
        "        cart = Cart()\n"
        "        cart.add(Item('a', Decimal('10')))\n"
        "        assert cart.total_with_discount(Decimal('0.1')) == Decimal('9.00')\n"
        "\n"
        "    def test_other(self):\n"
        "        assert True\n"
    ),
    "web/app.js": (
        "import { formatPrice } from './format';\n"
        "\n"
        "export class Checkout {\n"
        "  render(total) {\n"
        "    return formatPrice(total);\n"
        "  }\n"
        "}\n"
    ),
    "web/format.js": "export function formatPrice(value) {\n  return value.toFixed(2) + ' EUR';\n}\n",
    "svc/main.go": (
        "package main\n"
        "\n"
        "type Server struct{ Port int }\n"
        "\n"
        "func (s *Server) Start() error {\n"
        "  return listen(s.Port)\n"
        "}\n"
        "\n"
        "func listen(port int) error { return nil }\n"
    ),
    ".gitignore": "build/\n*.generated.py\n",
    "build/out.py": "def built_output(): pass\n",
    "shop/models.generated.py": "def generated(): pass\n",
    "node_modules/lib/index.js": "export function vendored() {}\n",
}


def make_repo(root: Path, files: dict[str, str] = FIXTURE) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def names(repo_map: RepoMap, path: str | None = None, query: str = "") -> set[str]:
    return {s.qualname for s in repo_map.symbols(path, query)}


def same_map(a: RepoMap, b: RepoMap, focus: Focus) -> None:
    assert a.symbols() == b.symbols()
    assert a.graph.out == b.graph.out
    assert a.graph.definers == b.graph.definers
    assert a.graph.users == b.graph.users
    assert a.render(focus, 4000) == b.render(focus, 4000)
    assert [(f.path, f.score) for f in a.rank(focus)] == [(f.path, f.score) for f in b.rank(focus)]


# -- files, symbols and references ---------------------------------------------------------------


def test_files_skip_what_git_ignores(repo: Path) -> None:
    venv = repo / "env"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr\n")
    (venv / "site.py").write_text("def in_venv(): pass\n")
    m = RepoMap.build(repo)
    assert "shop/cart.py" in m.files
    assert "web/app.js" in m.files and "svc/main.go" in m.files
    for ignored in ("build/out.py", "shop/models.generated.py", "node_modules/lib/index.js", "env/site.py"):
        assert ignored not in m.files


def test_python_definitions_with_lines_and_signatures(repo: Path) -> None:
    m = RepoMap.build(repo)
    by_name = {s.qualname: s for s in m.symbols("shop/cart.py")}
    assert {"Item", "Item.name", "Item.price", "Cart", "Cart.__init__", "Cart.add", "Cart.total_with_discount"} <= set(
        by_name
    )
    total = by_name["Cart.total_with_discount"]
    assert (total.kind, total.line, total.end_line) == ("method", 20, 23)
    # A header over three lines becomes one signature line.
    assert total.signature == "    def total_with_discount( self, discount: Decimal ) -> Decimal:"
    item = by_name["Item"]
    assert (item.kind, item.first_line, item.line) == ("class", 7, 8)  # the decorator starts it
    money = {s.qualname: s for s in m.symbols("shop/money.py")}
    assert money["CURRENCY"].kind == "variable" and money["round_cents"].kind == "function"


def test_python_references_and_imports_link_files(repo: Path) -> None:
    m = RepoMap.build(repo)
    tags = m.tags("tests/test_cart.py")
    assert tags is not None
    assert {"Cart", "Item", ".add", ".total_with_discount", "Decimal"} <= set(tags.refs)
    assert ".items" not in m.tags("shop/cart.py").refs  # type: ignore[union-attr] # plain attribute reads are data
    # test_cart uses Cart (defined in cart.py); shipping imports Cart; cart imports round_cents.
    assert "shop/cart.py" in m.graph.out["tests/test_cart.py"]
    assert set(m.graph.out["shop/shipping.py"]["shop/cart.py"]) >= {"python:Cart", "python:.total_with_discount"}
    assert "python:round_cents" in m.graph.out["shop/cart.py"]["shop/money.py"]
    assert "shop/report.py" not in m.graph.into


def test_locals_builtins_and_other_languages_link_nothing(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        {
            "a.py": "def text():\n    return 'a'\n\ndef len():\n    return 0\n",
            "local.py": "def f():\n    text = 'mine'\n    return len(text)\n",
            "user.py": "from a import text\n\ndef g():\n    return text()\n",
            "qualified.py": "import a\n\ndef h(path):\n    return a.text() + path.read_text()\n",
            "methods.py": "class P:\n    def read_text(self):\n        return ''\n",
            "web.js": "export function text() { return 'js'; }\n",
            "caller.js": "import { text } from './web';\nconsole.log(text());\n",
        },
    )
    m = RepoMap.build(tmp_path)
    assert "local.py" not in m.graph.out  # its `text` is a local, its `len` the builtin
    assert set(m.graph.out["user.py"]) == {"a.py"}
    # `a.text()` names a.py's function; `path.read_text()` some object's method, not a function.
    assert set(m.graph.out["qualified.py"]) == {"a.py", "methods.py"}
    assert set(m.graph.out["qualified.py"]["methods.py"]) == {"python:.read_text"}
    assert "python:text" in m.graph.out["qualified.py"]["a.py"]
    assert set(m.graph.out["caller.js"]) == {"web.js"}


def test_other_languages_through_tree_sitter(repo: Path) -> None:
    m = RepoMap.build(repo)
    assert names(m, "web") == {"Checkout", "Checkout.render", "formatPrice"}
    assert names(m, "svc") == {"Server", "Server.Start", "listen"}
    start = next(s for s in m.symbols("svc/main.go") if s.name == "Start")
    assert (start.kind, start.line, start.signature) == ("method", 5, "func (s *Server) Start() error {")
    # app.js calls formatPrice from ./format: an edge by the name and by the import.
    assert {"javascript:formatPrice", "javascript:\0module:js:web/format"} <= set(
        m.graph.out["web/app.js"]["web/format.js"]
    )
    assert "listen" in m.tags("svc/main.go").refs  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "a.ts",
            "interface Shape { area(): number }\nexport type Id = string;\nenum Color { Red }\n",
            {"Shape", "Shape.area", "Id", "Color"},
        ),
        (
            "a.rs",
            "struct P { x: i32 }\nimpl P { fn norm(&self) -> i32 { self.x } }\nfn main() {}\n",
            {"P", "P.norm", "main"},
        ),
        ("A.java", "class A { int f; A() {} void run(int x) { helper(x); } }\n", {"A", "A.f", "A.A", "A.run"}),
        (
            "a.c",
            "struct S { int x; };\ntypedef int T;\nint f(int a) { return a; }\nint g(void);\n",
            {"S", "T", "f", "g"},
        ),
        (
            "a.cpp",
            "namespace n { class C { public: void m(); }; }\nint main() { return 0; }\n",
            {"n", "C", "C.m", "main"},
        ),
        (
            "A.cs",
            "namespace N { class A { int P { get; set; } void M(int x) { Helper(x); } } interface I {} }\n",
            {"N", "A", "A.P", "A.M", "I"},
        ),
        (
            "a.rb",
            "module M\n  class A\n    def m(x)\n      helper(x)\n    end\n  end\nend\ndef helper(x); end\n",
            {"M", "M.A", "A.m", "helper"},
        ),
        (
            "a.php",
            "<?php\nclass A { function m($x) { return helper($x); } }\nfunction helper($x) { return $x; }\n",
            {"A", "A.m", "helper"},
        ),
    ],
)
def test_language_table(tmp_path: Path, path: str, source: str, expected: set[str]) -> None:
    (tmp_path / path).write_text(source)
    assert names(RepoMap.build(tmp_path)) == expected


def test_symbols_filter_by_folder_and_query(repo: Path) -> None:
    m = RepoMap.build(repo)
    assert names(m, "shop", "total") == {"Cart.total_with_discount"}
    assert names(m, query="CART") == {
        "Cart",
        "Cart.__init__",
        "Cart.add",
        "Cart.total_with_discount",
        "TestCart",
        "TestCart.test_discount",
        "TestCart.test_other",
    }
    assert m.symbols("no/such/folder") == []
    assert m.symbols("shop/cart.py")[0].as_dict()["path"] == "shop/cart.py"


# -- focus and ranking -----------------------------------------------------------------------------


def test_focus_from_a_test_id_a_diagnostic_and_a_selection() -> None:
    focus = Focus.from_test("./tests/test_cart.py::TestCart::test_discount[case-1]")
    assert focus.paths == ["tests/test_cart.py"]
    assert focus.symbols == ["TestCart.test_discount", "test_discount"]
    assert Focus.from_diagnostic("a.py", 3) == Focus(paths=["a.py"], lines={"a.py": [3]})
    assert Focus.from_selection("a.py", 4, 2).lines == {"a.py": [4]}
    assert Focus.from_selection("a.py", 2, 4).lines == {"a.py": [2, 3, 4]}
    merged = Focus.for_task(path="b.py", line=7, test="tests/t.py::test_x")
    assert merged.paths == ["tests/t.py", "b.py"] and merged.lines == {"b.py": [7]}
    with pytest.raises(BadInput):
        Focus.from_test("::test_x")


def test_a_failing_test_ranks_the_file_defining_what_it_calls_first(repo: Path) -> None:
    m = RepoMap.build(repo)
    ranked = m.rank(Focus.from_test("tests/test_cart.py::TestCart::test_discount"))
    order = [f.path for f in ranked]
    assert order[0] == "tests/test_cart.py"
    assert order[1] == "shop/cart.py"
    cart = ranked[1]
    assert cart.symbols[0][0].qualname in {"Cart.total_with_discount", "Cart", "Item"}
    assert order.index("shop/report.py") > order.index("shop/money.py")
    # Without a focus the ranking is plain PageRank: what others use leads, the unused trails.
    plain = [f.path for f in m.rank(Focus()) if f.path.startswith("shop/")]
    assert plain.index("shop/money.py") < plain.index("shop/cart.py") < plain.index("shop/report.py")


def test_a_diagnostic_focuses_what_its_function_uses(repo: Path) -> None:
    m = RepoMap.build(repo)
    text = m.render(Focus.from_diagnostic("shop/shipping.py", 6), 60)
    lines = text.splitlines()
    assert lines[0] == "shop/shipping.py:"
    assert "    5│def shipping_cost(cart: Cart) -> int:" in lines
    assert "shop/cart.py:" in lines
    assert "shop/report.py:" not in lines


def test_a_comment_focuses_the_definition_below_it(repo: Path) -> None:
    m = RepoMap.build(repo)
    (repo / "shop/cart.py").write_text(
        FIXTURE["shop/cart.py"].replace("@dataclass\n", "# TODO: a discount per item\n@dataclass\n")
    )
    m.update(["shop/cart.py"])
    item = next(s for s in m.symbols("shop/cart.py") if s.qualname == "Item")
    assert m.tags("shop/cart.py").around(item.first_line - 1) == item  # type: ignore[union-attr]
    ranked = m.rank(Focus.from_diagnostic("shop/cart.py", item.first_line - 1))
    cart = next(f for f in ranked if f.path == "shop/cart.py")
    assert cart.symbols[0][0] == item
    # What uses Item (the test builds one) is personalised as its callers.
    assert [f.path for f in ranked].index("tests/test_cart.py") < [f.path for f in ranked].index("shop/report.py")


def test_render_respects_the_budget(repo: Path) -> None:
    m = RepoMap.build(repo)
    focus = Focus.from_test("tests/test_cart.py::TestCart::test_discount")
    full = m.render(focus, 100_000)
    assert "shop/report.py:" in full and "web/format.js:" in full
    previous = 0
    for budget in (1, 10, 30, 60, 120, 250):
        text = m.render(focus, budget)
        assert count(text) <= budget
        assert count(text) >= previous  # more budget never shows less
        previous = count(text)
    assert m.render(focus, 0) == ""
    assert count_tokens(m.render(focus, 40)) <= 40
    small = m.render(focus, 40)
    assert small.startswith("tests/test_cart.py:") and "shop/cart.py:" in small


# -- incremental updates ---------------------------------------------------------------------------


def test_update_after_edit_add_delete_equals_a_fresh_build(repo: Path) -> None:
    m = RepoMap.build(repo)
    focus = Focus.from_test("tests/test_cart.py::TestCart::test_discount")
    # Edit: report.py now uses round_cents; the graph gains an edge.
    (repo / "shop/report.py").write_text(
        "from .money import round_cents\n\ndef monthly_report(rows):\n    return [round_cents(r) for r in rows]\n"
    )
    # Add: a new module defining a name cart.py uses, and a new folder.
    (repo / "shop/taxes.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    (repo / "lib").mkdir()
    (repo / "lib/util.py").write_text("def total_with_discount(x):\n    return x\n")
    # Delete: money.py goes (cart.py's import now points nowhere).
    (repo / "shop/money.py").unlink()
    m.update([repo / "shop/report.py", "shop/taxes.py", repo / "lib", "shop/money.py"])
    assert "shop/money.py" not in m.files and "shop/taxes.py" in m.files and "lib/util.py" in m.files
    same_map(m, RepoMap.build(repo), focus)
    # Deleting a folder forgets its files.
    for f in (repo / "lib").iterdir():
        f.unlink()
    (repo / "lib").rmdir()
    m.update([repo / "lib"])
    assert "lib/util.py" not in m.files
    same_map(m, RepoMap.build(repo), focus)


def test_update_crossing_the_common_name_line_reweighs_everywhere(repo: Path) -> None:
    m = RepoMap.build(repo)
    focus = Focus.from_test("tests/test_cart.py::TestCart::test_discount")
    # Six definers of `.add` makes it common: every edge for it weighs a tenth.
    added = [f"extra/m{i}.py" for i in range(6)]
    for rel in added:
        make_repo(repo, {rel: "class X:\n    def add(self):\n        pass\n"})
        m.update([rel])
    same_map(m, RepoMap.build(repo), focus)
    for rel in added[:3]:
        (repo / rel).unlink()
        m.update([rel])
    same_map(m, RepoMap.build(repo), focus)


def test_update_of_gitignore_hides_and_shows_files(repo: Path) -> None:
    m = RepoMap.build(repo)
    (repo / ".gitignore").write_text("shop/report.py\n")
    m.update([repo / ".gitignore"])
    assert "shop/report.py" not in m.files and "build/out.py" in m.files
    same_map(m, RepoMap.build(repo), Focus())


def test_update_of_an_unchanged_file_keeps_its_tags(repo: Path) -> None:
    m = RepoMap.build(repo)
    before = m.tags("shop/cart.py")
    (repo / "shop/cart.py").write_text(FIXTURE["shop/cart.py"])  # saved again, same text
    m.update(["shop/cart.py", repo / "shop"])
    assert m.tags("shop/cart.py") is before
    (repo / "shop/cart.py").write_text(FIXTURE["shop/cart.py"] + "\n\ndef later():\n    pass\n")
    m.update(["shop/cart.py"])
    assert m.tags("shop/cart.py") is not before and "later" in names(m, "shop/cart.py")


def test_update_ignores_paths_outside_the_root(repo: Path, tmp_path: Path) -> None:
    m = RepoMap.build(repo)
    before = m.files
    (tmp_path / "elsewhere.py").write_text("def x(): pass\n")
    m.update([tmp_path / "elsewhere.py", "../elsewhere.py", "", "build/out.py"])
    assert m.files == before


def test_watch_picks_up_a_change(repo: Path) -> None:
    m = RepoMap.build(repo)
    watcher = m.watch(debounce_ms=50)
    try:
        assert watcher.alive
        # Let the watcher start before the change (an event before it watches is not seen).
        deadline = time.monotonic() + 60
        probe = 0
        while "added_later" not in names(m, "shop/report.py"):
            assert time.monotonic() < deadline, f"the watch never saw the change ({watcher.error})"
            probe += 1
            (repo / "shop/report.py").write_text(f"def added_later():\n    return {probe}\n")
            time.sleep(0.3)
        assert not watcher.error
    finally:
        watcher.stop()
    assert not watcher.alive


def test_runs_start_from_the_workspaces_cached_map(repo: Path, tmp_path: Path) -> None:
    """A run's sandbox map is the workspace's map copied (only files that differ parsed again),
    and the workspace's map follows its files through watchfiles between runs: no rebuild."""
    cache = MapCache(debounce_ms=50)
    try:
        first = tmp_path / "run1"
        shutil.copytree(repo, first)
        (first / "shop/report.py").write_text("def only_in_the_copy():\n    return 1\n")
        (first / "shop/cart.py").unlink()
        sandbox_map = cache.for_sandbox(repo, first)
        assert sandbox_map.root == first.resolve()
        same_map(sandbox_map, RepoMap.build(first), Focus(paths=["shop/report.py"]))
        workspace_map = cache.workspace_map(repo)
        assert "only_in_the_copy" not in names(workspace_map, "shop/report.py")  # the copy's own
        assert "shop/cart.py" in workspace_map.files
        deadline = time.monotonic() + 60
        probe = 0
        while "from_the_workspace" not in names(workspace_map, "shop/report.py"):
            assert time.monotonic() < deadline, "the workspace's watcher never saw the change"
            probe += 1
            (repo / "shop/report.py").write_text(f"def from_the_workspace():\n    return {probe}\n")
            time.sleep(0.3)
        second = tmp_path / "run2"
        shutil.copytree(repo, second)
        same_map(cache.for_sandbox(repo, second), RepoMap.build(second), Focus(paths=["shop/report.py"]))
        assert cache.builds == 1
    finally:
        cache.close()


# -- bad input -----------------------------------------------------------------------------------


def test_a_root_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        RepoMap.build(tmp_path / "missing")
    assert "no such folder" in str(info.value) and info.value.fix
    (tmp_path / "file.py").write_text("x = 1\n")
    with pytest.raises(BadInput, match="not a folder"):
        RepoMap.build(tmp_path / "file.py")


def test_bad_files_do_not_break_the_map(repo: Path) -> None:
    (repo / "shop/broken.py").write_text("def ok():\n    return 1\n\ndef broken(:\n    pass\n")
    (repo / "shop/blob.py").write_bytes(b"\x00\x01\x02binary")
    (repo / "shop/latin.py").write_bytes("nom = 'caf\xe9'\n".encode("latin-1"))
    (repo / "shop/huge.py").write_text("x = 1\n" * 400_000)
    (repo / "shop/empty.py").write_text("")
    unreadable = repo / "shop/secret.py"
    unreadable.write_text("def hidden(): pass\n")
    unreadable.chmod(0)
    try:
        m = RepoMap.build(repo)
    finally:
        unreadable.chmod(0o644)
    # tree-sitter still finds the definitions around the syntax error.
    assert {"ok", "broken"} <= names(m, "shop/broken.py")
    assert m.tags("shop/broken.py").error.startswith("SyntaxError")  # type: ignore[union-attr]
    assert m.skipped["shop/blob.py"] == "binary"
    assert m.skipped["shop/latin.py"] == "binary (not UTF-8)"
    assert m.skipped["shop/huge.py"].startswith("larger than")
    if os.geteuid() != 0:  # root reads any file
        assert m.skipped["shop/secret.py"].startswith("unreadable")
    assert "shop/empty.py" in m.files
    assert "shop/cart.py:" in m.render(Focus.from_test("tests/test_cart.py::TestCart::test_discount"), 200)
    # A focus on files the map does not hold is not an error.
    assert m.rank(Focus(paths=["no/such.py"], lines={"no/such.py": [3]}))[0].path
    assert m.render(Focus(paths=["no/such.py"]), 50)
