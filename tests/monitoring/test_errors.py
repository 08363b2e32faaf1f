"""Error tracking (docs/monitoring.md, Errors): stacks read from real Python tracebacks, a real
Node.js stack and a Java stack; Sentry-style grouping that survives redeploys under another
root and edits that move lines; the ErrorStore on SQLite and PostgreSQL (regressions, ignored
groups, many threads on one new error); the operations end to end on the shared platform."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psycopg
import pytest

from codeforge.catalog.errors import NotFound, PermissionDenied
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.errors.extract import from_log, from_span, parse_stack
from codeforge.platform.monitoring.errors.fingerprint import culprit, fingerprint, mask_message
from codeforge.platform.monitoring.errors.store import ErrorStore
from codeforge.platform.monitoring.records import ExceptionEvent, LogRecord, Span, SpanEvent, StackFrame
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, require
from tests.monitoring_platform import new_project
from tests.platform.conftest import PG_ADMIN, _postgres_up

# ---- real exceptions --------------------------------------------------------------------

CART = """\
import json


def parse(body):
    return json.loads(body)


def total(body):
    order = parse(body)
    return sum(order[k] for k in order)


def checkout(body, handler):
    try:
        return total(body)
    except ValueError as exc:
        raise RuntimeError(f"checkout {handler} failed for order 1234") from exc
"""


def _deploy(root: Path, name: str, lines_above: int = 0) -> ModuleType:
    """The app's `shop/cart.py` under `root` (as a deployment puts it), imported from there;
    `lines_above` blank lines move every line down, as an edit above the code would."""
    path = root / "shop" / "cart.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n" * lines_above + CART)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _traceback(module: ModuleType, body: str = "{bad json", handler: str = "web") -> str:
    try:
        module.checkout(body, handler)
    except Exception:
        return traceback.format_exc()
    raise AssertionError("checkout did not raise")


def _log(line: str, level: str = "error", **attributes: Any) -> LogRecord:
    return LogRecord(time.time_ns(), line, {"service": "shop"}, attributes, level)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    base = tmp_path_factory.mktemp("deploy")
    return {
        "app": _deploy(base / "app", "cart_app"),
        "srv": _deploy(base / "srv" / "app", "cart_srv", lines_above=7),
    }


# ---- extraction -------------------------------------------------------------------------


def test_a_chained_python_traceback_gives_the_exception_that_propagated(deployed: dict[str, ModuleType]) -> None:
    text = _traceback(deployed["app"])
    assert "The above exception was the direct cause" in text
    event = from_log(_log("checkout failed\n" + text))
    assert event is not None
    assert (event.type, event.message) == ("RuntimeError", "checkout web failed for order 1234")
    assert event.service == "shop" and event.source == "log" and event.stacktrace.endswith(text)
    # Outermost first: this test's call, then the app's checkout; the JSON decoder's frames
    # belong to the cause (the first traceback), which is not this event's stack.
    assert [f.function for f in event.frames] == ["_traceback", "checkout"]
    raising = event.frames[-1]
    assert raising.path.endswith("/app/shop/cart.py") and raising.in_app
    assert (
        raising.line
        == CART.splitlines().index('        raise RuntimeError(f"checkout {handler} failed for order 1234") from exc')
        + 1
    )
    assert raising.code.startswith("raise RuntimeError(")


def test_library_frames_are_not_in_app_and_the_cause_alone_parses(deployed: dict[str, ModuleType]) -> None:
    text = _traceback(deployed["app"]).split("\n\nThe above exception")[0]
    event = from_log(_log(text, level="info"))  # the marker is enough, whatever the level
    assert event is not None and event.type == "json.decoder.JSONDecodeError"
    by_function = {f.function: f for f in event.frames}
    assert by_function["parse"].in_app and by_function["total"].in_app
    assert not by_function["decode"].in_app and "/json/decoder.py" in by_function["decode"].path
    assert culprit(event.frames).endswith("/app/shop/cart.py in parse")


def test_an_exception_group_gives_the_group_and_its_own_stack(deployed: dict[str, ModuleType]) -> None:
    def gather() -> None:
        failures: list[Exception] = []
        for body in ("{bad", "{worse"):
            try:
                deployed["app"].checkout(body, "batch")
            except RuntimeError as exc:
                failures.append(exc)
        raise ExceptionGroup("2 checkouts failed", failures)

    try:
        gather()
    except ExceptionGroup:
        text = traceback.format_exc()
    event = from_log(_log(text))
    assert event is not None and (event.type, event.message) == (
        "ExceptionGroup",
        "2 checkouts failed (2 sub-exceptions)",
    )
    assert [f.function for f in event.frames] == ["test_an_exception_group_gives_the_group_and_its_own_stack", "gather"]
    assert event.frames[-1].code == 'raise ExceptionGroup("2 checkouts failed", failures)'


@pytest.mark.parametrize("key", ["exc_info", "exception", "stack", "stack_trace", "exception.stacktrace"])
def test_a_traceback_in_an_attribute(deployed: dict[str, ModuleType], key: str) -> None:
    event = from_log(_log("checkout failed", **{key: _traceback(deployed["app"])}))
    assert event is not None and event.type == "RuntimeError" and event.frames[-1].function == "checkout"


def test_opentelemetry_attributes_and_structured_exceptions(deployed: dict[str, ModuleType]) -> None:
    stack = _traceback(deployed["app"])
    otel = from_log(
        _log("boom", **{"exception.type": "RuntimeError", "exception.message": "m 1", "exception.stacktrace": stack})
    )
    assert otel is not None and (otel.type, otel.message) == ("RuntimeError", "m 1") and len(otel.frames) == 2
    bare = from_log(_log("boom", **{"exception.type": "KeyError", "exception.message": "'sku'"}))
    assert bare is not None and (bare.type, bare.message, bare.frames) == ("KeyError", "'sku'", [])
    nested = from_log(_log("boom", exception={"type": "RuntimeError", "message": "x", "stacktrace": stack}))
    assert nested is not None and nested.frames[-1].function == "checkout"


def test_records_without_an_exception_are_rejected() -> None:
    assert from_log(_log("GET /cart 200 in 3 ms", level="info")) is None
    assert from_log(_log("ValueError: no stack on one line")) is None
    assert from_log(_log("two\nlines, no stack", level="error")) is None
    assert from_log(_log("ok", exception="ValueError('not a stack')")) is None
    assert from_log(_log("Traceback (most recent call last):\n  garbage")) is None  # cut short: no type line


def test_a_real_node_stack(tmp_path: Path) -> None:
    node = shutil.which("node")
    require("node", node is not None, "node is not installed")
    script = tmp_path / "app" / "server.js"
    script.parent.mkdir()
    script.write_text(
        "function load(cart) {\n  return cart.items.length;\n}\n"
        "function handle(req) {\n  return load(req.cart);\n}\n"
        "try { handle({}); } catch (e) { process.stdout.write(e.stack); }\n"
    )
    stack = subprocess.run([str(node), str(script)], capture_output=True, text=True, check=True, timeout=30).stdout
    event = from_log(_log("request failed", stack=stack))
    assert event is not None and event.type == "TypeError"
    assert "reading 'items'" in event.message
    app = [f for f in event.frames if f.in_app]
    assert [f.function for f in app][-2:] == ["handle", "load"]
    assert app[-1].path == str(script) and app[-1].line == 2
    assert any(not f.in_app and f.path.startswith("node:") for f in event.frames)


JAVA = """\
Exception in thread "main" java.lang.IllegalStateException: cart 42 is closed
\tat com.shop.cart.Cart.checkout(Cart.java:42)
\tat com.shop.web.CartController.post(CartController.java:17)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.io.IOException: disk full
\tat com.shop.store.Files.write(Files.java:10)
\t... 3 more
"""


def test_a_java_stack() -> None:
    event = from_log(_log("unhandled", level="info", stack_trace=JAVA))
    assert event is not None
    assert (event.type, event.message) == ("java.lang.IllegalStateException", "cart 42 is closed")
    assert [(f.path, f.line, f.function, f.in_app) for f in event.frames] == [
        ("java/lang/Thread.java", 833, "Thread.run", False),
        ("com/shop/web/CartController.java", 17, "CartController.post", True),
        ("com/shop/cart/Cart.java", 42, "Cart.checkout", True),
    ]


def test_exceptions_recorded_on_spans(deployed: dict[str, ModuleType]) -> None:
    stack = _traceback(deployed["app"])
    span = Span(
        "ab" * 16,
        "cd" * 8,
        "",
        "shop",
        "POST /checkout",
        1,
        2,
        status="error",
        events=[
            SpanEvent(5, "log"),
            SpanEvent(
                7,
                "exception",
                {"exception.type": "RuntimeError", "exception.message": "m", "exception.stacktrace": stack},
            ),
            SpanEvent(8, "exception", {"exception.type": "TimeoutError"}),
        ],
    )
    first, second = from_span(span)
    assert (first.type, first.source, first.trace_id, first.service, first.time_ns) == (
        "RuntimeError",
        "trace",
        "ab" * 16,
        "shop",
        7,
    )
    assert first.frames[-1].function == "checkout"
    assert (second.type, second.frames) == ("TimeoutError", [])
    assert parse_stack("nothing here") is None


# ---- fingerprints -----------------------------------------------------------------------


def test_one_error_is_one_group_across_roots_and_moved_lines(deployed: dict[str, ModuleType]) -> None:
    app, srv = (from_log(_log(_traceback(deployed[k]))) for k in ("app", "srv"))
    assert app is not None and srv is not None
    assert app.frames[-1].line != srv.frames[-1].line and "/srv/app/" in srv.frames[-1].path
    assert fingerprint(app) == fingerprint(srv)
    other_message = from_log(_log(_traceback(deployed["app"], handler="cron")))
    assert other_message is not None and fingerprint(other_message) == fingerprint(app)  # the message is not the key


def test_another_function_or_type_is_another_group(deployed: dict[str, ModuleType]) -> None:
    event = from_log(_log(_traceback(deployed["app"])))
    assert event is not None
    renamed = ExceptionEvent(event.time_ns, event.type, event.message, [*event.frames])
    renamed.frames[-1] = StackFrame(renamed.frames[-1].path, 1, "pay", True)
    retyped = ExceptionEvent(event.time_ns, "ValueError", event.message, event.frames)
    assert len({fingerprint(event), fingerprint(renamed), fingerprint(retyped)}) == 3
    # A library frame more or less (another version of a package) changes nothing.
    library = StackFrame("/usr/lib/python3.12/site-packages/x.py", 3, "wrap", False)
    assert fingerprint(ExceptionEvent(0, event.type, "", [library, *event.frames])) == fingerprint(event)


def test_without_in_app_frames_the_masked_message_groups() -> None:
    lib = [StackFrame("/venv/lib/python3.12/site-packages/db.py", 9, "connect", False)]

    def event(message: str) -> ExceptionEvent:
        return ExceptionEvent(0, "ConnectionError", message, lib)

    a = event("connect to 10.0.0.7:5432 failed after 3 tries, request 1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    b = event("connect to 10.0.0.9:5432 failed after 5 tries, request 0a4e28ba-2fa1-11d2-883f-0016d3cca999")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(event("permission denied for table orders"))
    assert mask_message("at 0x7f3a2c obj deadbeef99 id 12") == "at <hex> obj <hex> id <n>"


# ---- the store on both backends ---------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrorStore]:
    url, name = "", ""
    if request.param == "postgresql":
        require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
        name = f"cf_err_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://{PG_ADMIN.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"
    monitoring = Monitoring(Settings(data_dir=tmp_path_factory.mktemp("errors"), database_url=url))
    found = ErrorStore(monitoring)
    yield found
    found.close()
    if name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _event(t: int, function: str = "checkout", service: str = "shop", message: str = "m") -> ExceptionEvent:
    frames = [
        StackFrame("/app/shop/web.py", 3, "post", True),
        StackFrame("/app/shop/cart.py", t % 50 + 1, function, True),
    ]
    return ExceptionEvent(t, "RuntimeError", message, frames, service=service, labels={"service": service})


def test_groups_count_and_keep_the_latest_event(store: ErrorStore) -> None:
    project = uuid.uuid4().hex
    base = time.time_ns() - 10**12
    store.observe(project, [_event(base + i, message=f"m{i}") for i in range(30)])
    store.observe(project, [_event(base - 5, service="worker", message="late")])  # older than the latest
    store.observe(project, [_event(base, function="pay")])
    groups = store.groups(project)
    assert [g.count for g in groups] == [31, 1]  # the most recently seen first
    group = store.group(project, groups[0].id)
    assert group is not None
    assert (group.message, group.first_seen_ns, group.last_seen_ns) == ("m29", base - 5, base + 29)
    assert group.services == ["shop", "worker"] and group.culprit == "/app/shop/cart.py in checkout"
    assert group.frames[-1].line == (base + 29) % 50 + 1
    assert len(group.events) == 20 and group.events[0].message == "m29"  # the newest 20, newest first
    assert store.groups(project, query="M2", service="worker")[0].id == group.id
    assert store.groups(project, service="nobody") == [] and store.groups(project, query="50%_") == []
    assert [g.id for g in store.groups(project, since_ns=base + 1)] == [group.id]
    assert store.groups(uuid.uuid4().hex) == [] and store.group(project, "0" * 32) is None


def test_an_event_after_resolve_regresses(store: ErrorStore) -> None:
    project = uuid.uuid4().hex
    store.observe(project, [_event(time.time_ns() - 10**9)])
    group_id = store.groups(project)[0].id
    resolved = store.triage(project, group_id, "resolved", "ana")
    assert resolved is not None and (resolved.state, resolved.resolved_by) == ("resolved", "ana")
    assert resolved.resolved_at_ns is not None
    store.observe(project, [_event(resolved.resolved_at_ns - 1)])  # sent before the fix, arrived after
    assert store.groups(project)[0].state == "resolved"
    regressions = store.announced["regressed"]
    store.observe(project, [_event(time.time_ns())])
    store.observe(project, [_event(time.time_ns())])  # still regressed: announced once
    again = store.groups(project, state="regressed")
    assert [g.id for g in again] == [group_id] and again[0].count == 4
    assert store.announced["regressed"] == regressions + 1
    reopened = store.triage(project, group_id, "unresolved", "ana")
    assert reopened is not None and (reopened.state, reopened.resolved_at_ns, reopened.resolved_by) == (
        "unresolved",
        None,
        None,
    )
    assert store.triage(project, "f" * 32, "resolved", "ana") is None
    with pytest.raises(ValueError, match="state must be one of"):
        store.triage(project, group_id, "regressed", "ana")


def test_ignored_stays_ignored_and_counts(store: ErrorStore) -> None:
    project = uuid.uuid4().hex
    store.observe(project, [_event(time.time_ns())])
    group_id = store.groups(project)[0].id
    store.triage(project, group_id, "ignored", "ana")
    announced = dict(store.announced)
    store.observe(project, [_event(time.time_ns()), _event(time.time_ns())])
    (group,) = store.groups(project)
    assert (group.state, group.count) == ("ignored", 3) and dict(store.announced) == announced


def test_many_threads_on_one_new_error_make_one_group(store: ErrorStore) -> None:
    """Eight threads, half of them through a second store on the same database (another
    replica), observe one new error at once: one group, every event counted, one announcement."""
    project = uuid.uuid4().hex
    replica = ErrorStore(store.monitoring)
    before = store.announced["new"] + replica.announced["new"]
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def observe(target: ErrorStore) -> None:
        try:
            start.wait()
            for _ in range(10):
                target.observe(project, [_event(time.time_ns()), _event(time.time_ns(), service="worker")])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=observe, args=(replica if i % 2 else store,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replica.close()
    assert failures == []
    (group,) = store.groups(project)
    assert group.count == 160 and group.services == ["shop", "worker"]
    assert store.announced["new"] + replica.announced["new"] - before == 1
    detail = store.group(project, group.id)
    assert detail is not None and len(detail.events) == 20


def test_log_records_and_spans_feed_the_store(store: ErrorStore, deployed: dict[str, ModuleType]) -> None:
    project = uuid.uuid4().hex
    stack = _traceback(deployed["app"])
    lines = [_log(f"GET /x {i}", level="info") for i in range(50)] + [_log(stack), _log("x", exc_info=stack)]
    assert store.observe_logs(project, lines) == 2
    span = Span(
        "ab" * 16,
        "cd" * 8,
        "",
        "shop",
        "POST /checkout",
        1,
        2,
        events=[
            SpanEvent(time.time_ns(), "exception", {"exception.type": "RuntimeError", "exception.stacktrace": stack})
        ],
    )
    assert store.observe_spans(project, [span]) == 1
    (group,) = store.groups(project)  # the same error from logs and from a trace: one group
    assert group.count == 3
    detail = store.group(project, group.id)
    assert detail is not None and {e.source for e in detail.events} == {"log", "trace"}


# ---- operations, end to end -------------------------------------------------------------


def _seed(platform: RunningPlatform, project: str, events: list[ExceptionEvent]) -> None:
    """Events written into the platform's own errors.db from here, as a second writer would."""
    with sqlite3.connect(platform.data_dir / "codeforge.db") as state:
        (project_id,) = state.execute("SELECT id FROM projects WHERE slug = ?", (project,)).fetchone()
    monitoring = Monitoring(Settings(data_dir=platform.data_dir))
    try:
        ErrorStore(monitoring).observe(project_id, events)
    finally:
        monitoring.stop()


def _viewer(platform: RunningPlatform) -> PlatformClient:
    owner = PlatformClient(platform.url, platform.token)
    username = f"viewer-{uuid.uuid4().hex[:8]}"
    owner.call("members.add", {"username": username, "role": "viewer"})
    return PlatformClient(platform.url, owner.call("tokens.create", {"name": "t", "username": username}).token)


def test_the_operations(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    now = time.time_ns()
    _seed(monitored, project, [_event(now - 10**9), _event(now, function="pay", message="card 4242 declined")])
    listed = client.call("monitoring.errors", {"project": project}).items
    assert [g.message for g in listed] == ["card 4242 declined", "m"]
    assert listed[0].frames[-1].function == "pay" and listed[0].last_seen.timestamp() == pytest.approx(now / 1e9)
    assert [g.id for g in client.call("monitoring.errors", {"project": project, "query": "DECLINED"}).items] == [
        listed[0].id
    ]
    assert client.call("monitoring.errors", {"project": project, "since": "1h"}).items
    assert client.call("monitoring.errors", {"project": project, "state": "resolved"}).items == []

    viewer = _viewer(monitored)
    shown = viewer.call("monitoring.error", {"project": project, "error": listed[0].id})
    assert shown.events[0].message == "card 4242 declined" and shown.culprit == "/app/shop/cart.py in pay"
    with pytest.raises(PermissionDenied):
        viewer.call("monitoring.triage", {"project": project, "error": listed[0].id, "state": "resolved"})

    resolved = client.call("monitoring.triage", {"project": project, "error": listed[0].id, "state": "resolved"})
    assert resolved.state == "resolved" and resolved.resolved_by and resolved.resolved_at is not None
    _seed(monitored, project, [_event(time.time_ns(), function="pay")])
    assert client.call("monitoring.error", {"project": project, "error": listed[0].id}).state == "regressed"

    # Another project of the organization sees none of it.
    other = new_project(monitored)
    assert client.call("monitoring.errors", {"project": other}).items == []
    with pytest.raises(NotFound, match="has no error"):
        client.call("monitoring.error", {"project": other, "error": listed[0].id})


def test_bad_input_names_the_field(monitored: RunningPlatform, project: str, client: PlatformClient) -> None:
    def problem(op: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{monitored.url}/api/v1/monitoring/{op}",
            json={"project": project, **body},
            headers={"Authorization": f"Bearer {monitored.token}"},
            timeout=30,
        )
        assert response.status_code == 422, response.text
        return dict(response.json())

    assert problem("triage", {"error": "a" * 32, "state": "regressed"})["errors"][0]["field"] == "state"
    assert problem("error", {"error": "not-an-id"})["errors"][0]["field"] == "error"
    assert problem("errors", {"since": "last tuesday"})["errors"][0]["field"] == "since"
    assert problem("errors", {"limit": 0})["errors"][0]["field"] == "limit"
    with pytest.raises(NotFound, match="monitoring errors"):
        client.call("monitoring.triage", {"project": project, "error": "b" * 32, "state": "ignored"})


def _ingest(platform: RunningPlatform, project: str, lines: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{platform.url}/ingest/{project}/logs",
        content="\n".join(json.dumps(line) for line in lines),
        headers={"Authorization": f"Bearer {platform.token}", "Content-Type": "application/x-ndjson"},
        timeout=30,
    )


def _feed(client: PlatformClient, project: str, kind: str, error: str) -> dict[str, Any]:
    """The editor feed's notice of `kind` about `error` (the notifier writes it on its thread)."""
    after: int | None = None
    for _ in range(20):
        page = client.call("monitoring.notifications", {"project": project, "after": after, "wait_s": 2})
        for item in page.items:
            if item.kind == kind and item.item == error:
                return dict(item.model_dump())
        after = page.cursor
    raise AssertionError(f"no {kind} notice for {error}")


def test_an_exception_logged_over_the_ingest_endpoint_becomes_a_group(
    monitored: RunningPlatform, project: str, client: PlatformClient, deployed: dict[str, ModuleType]
) -> None:
    stack = _traceback(deployed["app"])
    lines = [
        {"level": "info", "message": "GET /cart 200", "service": "shop"},
        {"level": "error", "message": "checkout failed", "service": "shop", "exc_info": stack},
    ]
    response = _ingest(monitored, project, lines)
    assert response.is_success, response.text
    items: list[Any] = []
    for _ in range(200):  # the log writer stores the batch, then hands it to error tracking
        items = client.call("monitoring.errors", {"project": project}).items
        if items:
            break
        time.sleep(0.1)
    (group,) = items
    assert (group.type, group.message, group.count, group.services) == (
        "RuntimeError",
        "checkout web failed for order 1234",
        1,
        ["shop"],
    )
    assert group.frames[-1].function == "checkout" and group.frames[-1].path.endswith("/shop/cart.py")
    notice = _feed(client, project, "error.new", group.id)
    assert notice["pane"] == "error" and "RuntimeError" in notice["title"]

    # Resolved, then seen again: regressed, and announced once more.
    client.call("monitoring.triage", {"project": project, "error": group.id, "state": "resolved"})
    assert _ingest(monitored, project, lines[1:]).is_success
    for _ in range(200):
        group = client.call("monitoring.error", {"project": project, "error": group.id})
        if group.state == "regressed":
            break
        time.sleep(0.1)
    assert (group.state, group.count) == ("regressed", 2)
    assert _feed(client, project, "error.regressed", group.id)["labels"]["state"] == "regressed"
