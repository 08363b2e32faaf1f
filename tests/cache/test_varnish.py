"""The cache against real varnishd: rules compiled to VCL, served from cache, TTL, purges by
URL, prefix and tag on every node, a node unreachable during a purge, a refused VCL."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import BadInput
from codeforge.platform.auth.models import Organization, Project
from codeforge.platform.cache.apply import apply_purge, ban_words, push_vcl, retry_pending
from codeforge.platform.cache.models import CacheRuleRow, PendingPurge
from codeforge.platform.cache.nodes import CacheNode
from codeforge.platform.cache.varnish import Admin, Unreachable, VarnishNode, VclRefused, cli_quote
from codeforge.platform.cache.vcl import RouteCache, RuleSpec, generate, regex_escape, vcl_string
from codeforge.platform.db import Base, Database
from tests.servers.varnish import CountingApp, start_node

PROJECT = "p" * 32
HOST = "shop.test"


def _routes(*rules: RuleSpec, hosts: tuple[str, ...] = (HOST,)) -> list[RouteCache]:
    return [RouteCache(f"{PROJECT}/web", hosts, rules)]


def _get(node: VarnishNode, path: str, host: str = HOST, **headers: str) -> httpx.Response:
    return httpx.get(f"http://{node.listen}{path}", headers={"Host": host, **headers}, timeout=10)


def _as_node(node: VarnishNode) -> CacheNode:
    return CacheNode(node.name, node.listen, node.backend, node.workdir)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'state.db'}")
    tables = [Organization.__table__, Project.__table__, CacheRuleRow.__table__, PendingPurge.__table__]
    Base.metadata.create_all(database.engine, tables=tables)  # type: ignore[arg-type]
    with database.session() as s:
        org = Organization(slug="acme")
        s.add(org)
        s.flush()
        s.add(Project(id=PROJECT, org_id=org.id, slug="shop", name="shop"))
    yield database
    database.dispose()


def test_cached_object_is_served_from_cache(
    tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode]
) -> None:
    vcl = generate(_routes(RuleSpec("/static/", ttl_s=300)), counting_app.address)
    node = start_node(tmp_path, "n1", counting_app.address, vcl)
    varnish_nodes.append(node)
    first = _get(node, "/static/app.js")
    second = _get(node, "/static/app.js")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.text == first.text == "/static/app.js #1 lang=\n"
    assert counting_app.served(HOST, "/static/app.js") == 1
    # internal headers never reach the client, nor do paths without a rule get cached
    assert not [h for h in second.headers if h.lower().startswith("x-cf-")]
    for _ in range(2):
        assert _get(node, "/api/orders").headers["X-Cache"] == "PASS"
    assert counting_app.served(HOST, "/api/orders") == 2
    # another host (not the route's) passes through uncached
    for _ in range(2):
        _get(node, "/static/app.js", host="other.test")
    assert counting_app.served("other.test", "/static/app.js") == 2
    # POST, Cookie and Authorization pass
    httpx.post(f"http://{node.listen}/static/app.js", headers={"Host": HOST}, content=b"x")
    assert _get(node, "/static/app.js", Cookie="s=1").headers["X-Cache"] == "PASS"
    assert _get(node, "/static/app.js", Authorization="Bearer x").headers["X-Cache"] == "PASS"
    assert counting_app.served(HOST, "/static/app.js") == 4
    # every request of the route was counted by varnishncsa, as hit, miss or pass
    deadline = time.monotonic() + 10
    counts: dict[tuple[str, str], int] = {}
    while time.monotonic() < deadline:
        for key, n in node.drain_counts().items():
            counts[key] = counts.get(key, 0) + n
        if sum(counts.values()) >= 7:
            break
        time.sleep(0.1)
    rid = f"{PROJECT}/web"
    assert counts == {(rid, "miss"): 1, (rid, "hit"): 1, (rid, "pass"): 5}
    assert node.stats()["cache_hit"] >= 1


def test_ttl_query_and_vary(tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode]) -> None:
    rules = (
        RuleSpec("/news", match="exact", ttl_s=1, grace_s=0),
        RuleSpec("/search", match="exact", ttl_s=300, query_string=False),
        RuleSpec("/i18n/", ttl_s=300, vary_headers=("Accept-Language",)),
        RuleSpec("/nocache/", ttl_s=0),
        RuleSpec("/", ttl_s=300, bypass_cookie=False),
    )
    node = start_node(tmp_path, "n1", counting_app.address, generate(_routes(*rules), counting_app.address))
    varnish_nodes.append(node)
    assert _get(node, "/news").headers["X-Cache"] == "MISS"
    assert _get(node, "/news").headers["X-Cache"] == "HIT"
    time.sleep(1.6)  # past the TTL (no grace): the next request goes to the app
    assert _get(node, "/news").headers["X-Cache"] == "MISS"
    assert counting_app.served(HOST, "/news") == 2
    # exact: /news/x is not /news; it falls to the "/" prefix rule
    _get(node, "/news/x")
    assert _get(node, "/news/x").headers["X-Cache"] == "HIT"
    # query string off: /search?q=1 and /search?q=2 are one object
    assert _get(node, "/search?q=1").text == _get(node, "/search?q=2").text == "/search?q=1 #1 lang=\n"
    # vary on Accept-Language: one object per language
    assert "lang=fr" in _get(node, "/i18n/a", **{"Accept-Language": "fr"}).text
    assert "lang=de" in _get(node, "/i18n/a", **{"Accept-Language": "de"}).text
    assert _get(node, "/i18n/a", **{"Accept-Language": "fr"}).headers["X-Cache"] == "HIT"
    assert counting_app.served(HOST, "/i18n/a") == 2
    # TTL 0 is never cached; a rule without the cookie bypass caches cookie requests
    assert [_get(node, "/nocache/a").headers["X-Cache"] for _ in range(2)] == ["PASS", "PASS"]
    assert [_get(node, "/c", Cookie="a=1").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]


def _purge(node: VarnishNode, **what: str) -> None:
    words, _ = ban_words(PROJECT, "web", **what)
    node.admin().ban(*words)


def test_purge_by_url_prefix_and_tag(
    tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode]
) -> None:
    node = start_node(
        tmp_path, "n1", counting_app.address, generate(_routes(RuleSpec("/", ttl_s=300)), counting_app.address)
    )
    varnish_nodes.append(node)
    paths = [
        "/a.html",
        "/a.html?x=1",
        "/docs/one",
        "/docs/two",
        "/docsx",
        "/t1?tag=red,blue",
        "/t2?skey=blue.v2",
        "/t3?tag=reddish",
    ]
    for path in paths:
        _get(node, path)
        assert _get(node, path).headers["X-Cache"] == "HIT"

    def cached(path: str) -> bool:
        return _get(node, path).headers["X-Cache"] == "HIT"

    _purge(node, url="/a.html")  # exact: the query variant stays
    assert not cached("/a.html") and cached("/a.html?x=1")
    _purge(node, url=f"https://{HOST}/a.html?x=1")
    assert not cached("/a.html?x=1")
    _purge(node, prefix="/docs/")  # "." and "/" literal, /docsx untouched
    assert not cached("/docs/one") and not cached("/docs/two") and cached("/docsx")
    _purge(node, tag="blue")  # Cache-Tag holds it
    assert not cached("/t1?tag=red,blue") and cached("/t2?skey=blue.v2") and cached("/t3?tag=reddish")
    _purge(node, tag="blue.v2")  # Surrogate-Key holds it; "." is literal
    assert not cached("/t2?skey=blue.v2") and cached("/t3?tag=reddish")
    assert counting_app.served(HOST, "/docs/one") == 2
    # another project's purge leaves this project's objects alone
    words, _ = ban_words("q" * 32, "", prefix="/")
    node.admin().ban(*words)
    assert cached("/docsx")
    # the project's whole-prefix purge (no route) removes everything it has
    words, _ = ban_words(PROJECT, "", prefix="/")
    node.admin().ban(*words)
    assert not cached("/docsx")


def test_purge_reaches_every_node_and_a_paused_node_when_it_answers(
    tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode], db: Database
) -> None:
    vcl = generate(_routes(RuleSpec("/", ttl_s=300)), counting_app.address)
    a = start_node(tmp_path, "a", counting_app.address, vcl)
    varnish_nodes.append(a)
    b = start_node(tmp_path, "b", counting_app.address, vcl)
    varnish_nodes.append(b)
    nodes = [_as_node(a), _as_node(b)]
    for node in (a, b):
        _get(node, "/p")
        assert _get(node, "/p").headers["X-Cache"] == "HIT"
    assert counting_app.served(HOST, "/p") == 2

    words, what = ban_words(PROJECT, "web", url="/p")
    with db.session() as s:
        outcome = apply_purge(s, nodes, PROJECT, words, what)
    assert outcome.purged_on == ["a", "b"] and outcome.pending == {}
    assert [_get(n, "/p").headers["X-Cache"] for n in (a, b)] == ["MISS", "MISS"]
    assert [_get(n, "/p").headers["X-Cache"] for n in (a, b)] == ["HIT", "HIT"]

    # b's management process stops answering (its cache child keeps serving)
    assert b.process is not None
    os.kill(b.process.pid, signal.SIGSTOP)
    try:
        with db.session() as s:
            outcome = apply_purge(s, nodes, PROJECT, words, what)
        assert outcome.purged_on == ["a"] and list(outcome.pending) == ["b"]
        assert "did not answer" in outcome.pending["b"]
        assert _get(a, "/p").headers["X-Cache"] == "MISS"
        assert _get(b, "/p").headers["X-Cache"] == "HIT"  # still the purged object, for now
        # a second purge while b owes the first is queued behind it
        tag_words, tag_what = ban_words(PROJECT, "web", prefix="/q")
        with db.session() as s:
            outcome = apply_purge(s, nodes, PROJECT, tag_words, tag_what)
            assert list(outcome.pending) == ["b"]
            assert retry_pending(s, nodes) == []  # still unreachable: nothing applied, both kept
        with db.session() as s:
            owed = list(s.scalars(select(PendingPurge).order_by(PendingPurge.id)))
            assert [(p.node, p.what) for p in owed] == [("b", "url /p"), ("b", "prefix /q")]
            assert owed[0].attempts == 1
    finally:
        os.kill(b.process.pid, signal.SIGCONT)
    with db.session() as s:
        assert retry_pending(s, nodes) == ["b: url /p", "b: prefix /q"]
    with db.session() as s:
        assert list(s.scalars(select(PendingPurge))) == []
    assert _get(b, "/p").headers["X-Cache"] == "MISS"


def test_refused_vcl_leaves_the_old_one_serving(
    tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode]
) -> None:
    routes = _routes(RuleSpec("/", ttl_s=300))
    node = start_node(tmp_path, "n1", counting_app.address, generate(routes, counting_app.address))
    varnish_nodes.append(node)
    _get(node, "/x")
    before = node.admin().active_vcl()
    with pytest.raises(VclRefused, match="VCC-compiler"):
        node.load("vcl 4.1;\nsub vcl_recv { set req.http.x = ; }\n")
    assert node.admin().active_vcl() == before
    assert _get(node, "/x").headers["X-Cache"] == "HIT"
    # through push_vcl: BadInput, and a node that took it first is put back
    other = start_node(tmp_path, "n2", counting_app.address, generate(routes, counting_app.address))
    varnish_nodes.append(other)
    import codeforge.platform.cache.apply as apply_module

    real = apply_module.vcl_for
    calls: list[str] = []

    def flaky(n: CacheNode, r: list[RouteCache]) -> str:
        calls.append(n.name)
        return real(n, r) if len(calls) == 1 else "vcl 4.1; nonsense"

    apply_module.vcl_for = flaky  # type: ignore[assignment]
    try:
        with pytest.raises(BadInput, match="refused"):
            push_vcl([_as_node(other), _as_node(node)], _routes(RuleSpec("/", ttl_s=5)))
    finally:
        apply_module.vcl_for = real
    assert "300s" in (other.workdir / "active.vcl").read_text()
    assert _get(node, "/x").headers["X-Cache"] == "HIT"
    # a good VCL loads on both, and a node that is not running is reported, not fatal
    gone = CacheNode("gone", "127.0.0.1:9", counting_app.address, tmp_path / "never")
    outcome = push_vcl([_as_node(node), _as_node(other), gone], _routes(RuleSpec("/", ttl_s=7)))
    assert outcome.ok == ["n1", "n2"] and "never started" in outcome.failed["gone"]
    assert "7s" in (node.workdir / "active.vcl").read_text()


def test_varnishd_refuses_a_bad_boot_vcl(tmp_path: Path, varnish_nodes: list[VarnishNode]) -> None:
    node = VarnishNode("bad", "127.0.0.1:1", "127.0.0.1:2", tmp_path / "bad")
    with pytest.raises(VclRefused):
        node.start("vcl 4.1; sub vcl_recv { nonsense; }")
    assert not node.alive


def test_bad_input() -> None:
    with pytest.raises(BadInput, match="url"):
        ban_words(PROJECT, "web", url="/a b")
    with pytest.raises(BadInput, match="url"):
        ban_words(PROJECT, "web", url='/a"')
    with pytest.raises(BadInput, match="no cached route"):
        ban_words(PROJECT, "web", url="https://evil.test/a", hosts=[HOST])
    assert ban_words(PROJECT, "web", url="https://x.shop.test/a", hosts=["*.shop.test"])[0][-1] == "x.shop.test"
    with pytest.raises(BadInput, match="url"):
        ban_words(PROJECT, "web", url="ftp://shop.test/a")
    with pytest.raises(BadInput):
        ban_words(PROJECT, "web")
    with pytest.raises(ValueError):
        vcl_string('a"; }')
    with pytest.raises(ValueError):
        regex_escape("a]b")
    assert regex_escape("/a.b*c") == "/a[.]b[*]c"
    assert cli_quote("a b") == '"a b"' and cli_quote("^/a[.]b") == "^/a[.]b" and cli_quote("") == '""'
    with pytest.raises(Unreachable):
        Admin("127.0.0.1:1", b"x", timeout=1).call("ping")
    C = catalog.cache
    bad_rules: list[dict[str, object]] = [
        {"route": "web", "path": "static", "ttl_s": 1},
        {"route": "web", "path": '/a"b', "ttl_s": 1},
        {"route": "web", "path": "/a", "ttl_s": -1},
        {"route": "Web!", "path": "/a", "ttl_s": 1},
        {"route": "web", "path": "/a", "ttl_s": 1, "vary_headers": ["Cookie"]},
        {"route": "web", "path": "/a", "ttl_s": 1, "vary_headers": ["Bad Header"]},
        {"route": "web", "path": "/a", "ttl_s": 1, "match": "regex"},
    ]
    for bad in bad_rules:
        with pytest.raises(ValidationError):
            C.RuleInput.model_validate({"project": "shop", **bad})
    bad_purges: list[dict[str, str]] = [{}, {"url": "/a", "tag": "x"}, {"tag": "a b"}, {"prefix": "nope"}]
    for purge in bad_purges:
        with pytest.raises(ValidationError):
            C.PurgeInput.model_validate({"project": "shop", **purge})


def test_grace_serves_stale_while_refreshing(
    tmp_path: Path, counting_app: CountingApp, varnish_nodes: list[VarnishNode]
) -> None:
    vcl = generate(_routes(RuleSpec("/", ttl_s=1, grace_s=300)), counting_app.address)
    node = start_node(tmp_path, "n1", counting_app.address, vcl)
    varnish_nodes.append(node)
    assert "#1" in _get(node, "/g").text
    time.sleep(1.6)  # past the TTL, within grace
    stale = _get(node, "/g")
    assert "#1" in stale.text and stale.headers["X-Cache"] == "HIT"
    deadline = time.monotonic() + 10
    while "#2" not in _get(node, "/g").text and time.monotonic() < deadline:
        time.sleep(0.1)  # the refresh happened in the background
    assert "#2" in _get(node, "/g").text
    assert counting_app.served(HOST, "/g") == 2


def test_stale_processes_of_a_killed_platform_are_ended(tmp_path: Path, varnish_nodes: list[VarnishNode]) -> None:
    from codeforge.platform.cache.varnish import kill_stale

    app = CountingApp()
    try:
        node = start_node(tmp_path, "n1", app.address, generate(_routes(), app.address))
        varnish_nodes.append(node)
        assert node.process is not None and node._ncsa is not None
        pids = (node.process.pid, node._ncsa.pid)
        # as a platform's crash cleanup finds them: only the work dir, no process objects
        ended = kill_stale(node.workdir)
        assert len(ended) == 2 and all("n1" in line for line in ended)
        for proc in (node.process, node._ncsa):
            proc.wait(20)
        assert all(not Path(f"/proc/{pid}/cmdline").exists() for pid in pids)
        assert kill_stale(node.workdir) == []  # nothing left, pid files gone
        # a pid file naming another program is left alone
        (node.workdir / "varnishd.pid").write_text(f"{os.getpid()}\n")
        assert kill_stale(node.workdir) == []
    finally:
        app.close()
