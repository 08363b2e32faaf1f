"""Logs: the query language, ingestion parsing, the store's back-pressure and retention
in-process, then JSON lines, text and Loki pushes over HTTP into the shared platforms (SQLite
and PostgreSQL), searched and tailed through the operations; job output as logs."""

from __future__ import annotations

import gzip
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from codeforge.catalog.errors import BadInput, RateLimited
from codeforge.client import PlatformClient
from codeforge.platform.monitoring.logs.ingest import parse_json_lines, parse_loki_json, parse_text_lines, parse_time
from codeforge.platform.monitoring.logs.query import LogQueryError, parse, to_fts5, to_tsquery
from codeforge.platform.monitoring.logs.store import LogStore
from codeforge.platform.monitoring.records import LogRecord, Matcher
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform
from tests.monitoring_platform import new_project

# ---- the query language -----------------------------------------------------------------


def test_query_parses_selector_terms_phrases_exclusions_and_or() -> None:
    q = parse('{service="api", level=~"error|critical", job!="x"} timeout "Connection refused" -debug OR panic')
    assert q.matchers == (
        Matcher("service", "=", "api"),
        Matcher("level", "=~", "error|critical"),
        Matcher("job", "!=", "x"),
    )
    assert [[(t.words, t.negated) for t in b.terms] for b in q.branches] == [
        [(("timeout",), False), (("connection", "refused"), False), (("debug",), True)],
        [(("panic",), False)],
    ]
    # The engines get their own syntax built from quoted tokens, never the user's text.
    assert to_fts5(q) == '(("timeout" AND "connection refused") NOT "debug") OR ("panic")'
    assert to_tsquery(q) == "('timeout' & ('connection' <-> 'refused') & !'debug') | ('panic')"
    # Punctuation splits a word into a phrase of its pieces; FTS5 operators are plain words.
    assert parse("user_id=42").branches[0].terms[0].words == ("user", "id", "42")
    assert to_fts5(parse('NEAR AND NOT "a*"')) == '("near" AND "and" AND "not" AND "a")'
    assert parse("").branches == () and parse('{a="b"}').matchers == (Matcher("a", "=", "b"),)
    assert parse("-debug").only_negative


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ('{service="api"', "1:1", 'expected "}"'),
        ('{service="api} x', "1:10", "unclosed quote"),
        ('timeout "connection refused', "1:9", "unclosed quote"),
        ('{service=="api"}', "1:10", "expected a quoted value"),
        ('{service<"api"}', "1:9", "expected an operator"),
        ("{}", "1:1", "empty selector"),
        ('{level=~""}', "1:9", "empty regex"),
        ('{level=~"(error"}', "1:10", "does not compile"),
        ('{1x="a"}', "1:2", "expected a label name"),
        ('{a="b" c="d"}', "1:8", 'expected "," or "}"'),
        ("timeout OR", "1:11", "expected a term after OR"),
        ("OR timeout", "1:1", "expected a term before OR"),
        ("error -", "1:7", "right after"),
        ("--- x", "1:1", "no letters or digits"),
        ('x {a="b"}', "1:3", "selector must come first"),
        ("-debug OR -info", "1:1", "each side of OR"),
        ('x\n{a="b"}', "2:1", "selector must come first"),
    ],
)
def test_bad_queries_name_the_position_and_what_was_expected(text: str, where: str, expected: str) -> None:
    with pytest.raises(LogQueryError) as caught:
        parse(text)
    assert str(caught.value).startswith(where + ":"), str(caught.value)
    assert expected in str(caught.value)


# ---- parsing bodies ---------------------------------------------------------------------


def test_json_lines_fields_times_levels_and_text_lines() -> None:
    body = b"\n".join(
        [
            b'{"time":"2026-01-02T03:04:05.123456789Z","level":"WARN","msg":"disk 91% full","service":"db","host":"h1"}',
            b'{"ts":1767225600,"severity":"err","message":"boom","exc_info":"Traceback...\\nValueError: x",'
            b'"trace_id":"AB12","span_id":"CD"}',
            b'{"timestamp":1767225600123,"levelname":"CRITICAL","line":"ms epoch"}',
            b'{"time":1767225600123456789,"level":30,"note":"no message field"}',
            b'{"broken json',
            b"",
            b"2026-01-01 ERROR plain text line with caf\xc3\xa9",
        ]
    )
    r = parse_json_lines(body, {"env": "prod"}, now_ns=42)
    assert [x.line for x in r] == [
        "disk 91% full",
        "boom",
        "ms epoch",
        '{"time":1767225600123456789,"level":30,"note":"no message field"}',
        '{"broken json',
        "2026-01-01 ERROR plain text line with café",
    ]
    assert r[0].time_ns == 1767323045123456789 and r[0].level == "warning"
    assert r[0].labels == {"env": "prod", "service": "db", "level": "warning"} and r[0].attributes == {"host": "h1"}
    assert r[1].time_ns == 1767225600 * 10**9 and r[1].level == "error"
    assert r[1].attributes == {"exc_info": "Traceback...\nValueError: x"}  # kept for error tracking
    assert (r[1].trace_id, r[1].span_id) == ("ab12", "cd")
    assert r[2].time_ns == 1767225600123 * 10**6 and r[2].level == "critical"
    assert r[3].time_ns == 1767225600123456789 and r[3].level == "info"  # pino's 30
    assert r[4].time_ns == 42 and r[5].level == "error"
    # Records with the same labels share one dict: the store looks a stream up once per set.
    twins = parse_json_lines(b"a\nb", {})
    assert twins[0].labels is twins[1].labels
    text = parse_text_lines(b"first INFO line\r\n\nsecond\n", {"app": "x"}, now_ns=7)
    assert [(t.line, t.level, t.labels) for t in text] == [
        ("first INFO line", "info", {"app": "x", "level": "info"}),
        ("second", "", {"app": "x"}),
    ]
    assert parse_time("2026-01-01T00:00:00+02:00") == 1767218400 * 10**9
    assert parse_time("yesterday") is None and parse_time("2026-01-01T00:00:00") is None  # no offset


def test_loki_push_json_and_its_refusals() -> None:
    body = orjson.dumps(
        {
            "streams": [
                {
                    "stream": {"app": "shop", "level": "error"},
                    "values": [
                        ["1767225600000000000", "checkout failed"],
                        ["1767225601000000000", "x", {"trace_id": "AA"}],
                    ],
                }
            ]
        }
    )
    r = parse_loki_json(body)
    assert [(x.time_ns, x.line, x.level, x.labels) for x in r] == [
        (1767225600000000000, "checkout failed", "error", {"app": "shop", "level": "error"}),
        (1767225601000000000, "x", "error", {"app": "shop", "level": "error"}),
    ]
    assert r[1].trace_id == "aa" and r[1].attributes == {"trace_id": "AA"}
    for bad, field in [
        (b"{", "(body)"),
        (b'{"streams": 1}', "streams"),
        (b'{"streams": [{"stream": {"a": 1}, "values": []}]}', "streams[0].stream"),
        (b'{"streams": [{"stream": {}, "values": [["1", 2]]}]}', "streams[0].values[0]"),
        (b'{"streams": [{"stream": {}, "values": [["soon", "x"]]}]}', "streams[0].values[0][0]"),
    ]:
        with pytest.raises(BadInput) as caught:
            parse_loki_json(bad)
        assert caught.value.errors[0].field == field
        assert "push JSON" in caught.value.errors[0].fix


# ---- the store in-process: back-pressure, retention -------------------------------------


@pytest.fixture
def small_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LogStore]:
    monkeypatch.setenv("CODEFORGE_MONITORING_INGEST_QUEUE_LINES", "100")
    store = LogStore(Monitoring(Settings(data_dir=tmp_path)))
    store.start()
    yield store
    store.stop()
    store.close()


def _lines(n: int, word: str, time_ns: int | None = None) -> list[LogRecord]:
    labels = {"app": "flood"}
    now = time.time_ns() if time_ns is None else time_ns
    return [LogRecord(now + i, f"{word} line {i}", labels) for i in range(n)]


def test_a_flood_beyond_the_queue_is_refused_and_counted_with_bounded_memory(
    small_store: LogStore, tmp_path: Path
) -> None:
    # Another process holds logs.db's write lock (a slow disk, a backup): the writer waits,
    # the queue fills, and ingestion is refused instead of growing without bound.
    blocker = sqlite3.connect(tmp_path / "monitoring" / "logs.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert small_store.ingest("p", _lines(60, "early")) == 60
        assert small_store.ingest("p", _lines(40, "early")) == 40
        with pytest.raises(RateLimited) as caught:
            small_store.ingest("p", _lines(1, "late"))
        assert caught.value.retry_after >= 1 and "1 line(s) refused" in caught.value.detail
        with pytest.raises(RateLimited):
            small_store.ingest("p", _lines(100_000, "late"))
        assert small_store.refused == 100_001
        assert small_store.queued <= 100
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert small_store.flush(30)
    assert small_store.count("p", "") == 100 and small_store.count("p", "late") == 0
    small_store.ingest("p", _lines(5, "after"))  # room again once stored
    assert small_store.flush(30) and small_store.count("p", "after") == 5


def test_retention_removes_old_lines_from_the_table_and_the_index(small_store: LogStore) -> None:
    old = time.time_ns() - 30 * 86400 * 10**9
    small_store.ingest("p", _lines(50, "ancient", old))
    small_store.ingest("p", _lines(30, "recent"))
    assert small_store.flush(30)
    removed = small_store.backend.delete_before(time.time_ns() - 7 * 86400 * 10**9)
    assert removed == 50
    assert small_store.count("p", "ancient") == 0 and small_store.count("p", "line") == 30
    # Ids never go back, so a tail's cursor still holds after everything is removed.
    last = small_store.backend.last_id()
    small_store.backend.delete_before(time.time_ns() + 10**9)
    small_store.ingest("p", _lines(1, "fresh"))
    assert small_store.flush(30)
    found, cursor = small_store.tail("p", "", last, 0, 10)
    assert [f.line for f in found] == ["fresh line 0"] and cursor > last


# ---- over HTTP, against the shared platform ---------------------------------------------


def _post(
    platform: RunningPlatform,
    path: str,
    body: bytes,
    content_type: str = "application/x-ndjson",
    token: str | None = None,
    **headers: str,
) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token or platform.token}"} if token != "" else {}
    return httpx.post(
        f"{platform.url}{path}", content=body, headers={"Content-Type": content_type, **auth, **headers}, timeout=60
    )


def _call(client: PlatformClient, op: str, data: dict[str, Any]) -> Any:
    return client.call(op, data).model_dump(mode="json")


def _eventually(check: Callable[[], Any], what: str, attempts: int = 150) -> Any:
    """What `check` returns once truthy (the writer stores after the answer); bounds the wait."""
    for _ in range(attempts):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def _lines_of(client: PlatformClient, project: str, query: str, **extra: Any) -> list[str]:
    page = _call(client, "monitoring.logs", {"project": project, "query": query, "since": "30d", **extra})
    return [item["line"] for item in page["items"]]


def _ingest_and_search(platform: RunningPlatform, client: PlatformClient, project: str, postgres: bool) -> None:
    now = time.time()
    lines = [
        {"time": now - 50, "level": "error", "service": "api", "msg": "connection refused to db-primary"},
        {"time": now - 40, "level": "info", "service": "api", "msg": "GET /api/users 200 refused=0"},
        {"time": now - 30, "level": "warning", "service": "web", "msg": "timeout waiting for lock"},
        {"time": now - 20, "level": "error", "service": "web", "msg": "payment declined for Zürich 東京 order"},
        {"time": now - 7200, "level": "debug", "service": "api", "msg": "old debug connection check"},
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    answer = _post(platform, f"/ingest/{project}/logs?env=prod", body)
    assert answer.status_code == 200 and answer.json() == {"accepted": 5}
    text = _post(
        platform, f"/ingest/{project}/logs?env=prod&service=cron", b"nightly ERROR job crashed\n", "text/plain"
    )
    assert text.json() == {"accepted": 1}
    gz = _post(
        platform, f"/ingest/{project}/logs", gzip.compress(b'{"msg":"zipped line"}'), **{"Content-Encoding": "gzip"}
    )
    assert gz.json() == {"accepted": 1}
    loki = {
        "streams": [
            {"stream": {"service": "loki", "level": "error"}, "values": [[str(time.time_ns()), "pushed refused"]]}
        ]
    }
    pushed = _post(platform, f"/loki/{project}/api/v1/push", orjson.dumps(loki), "application/json")
    assert pushed.status_code == 204, pushed.text
    _eventually(lambda: len(_lines_of(client, project, "")) == 8, "8 lines stored")

    assert _lines_of(client, project, "refused") == [
        "pushed refused",
        "GET /api/users 200 refused=0",
        "connection refused to db-primary",
    ]
    assert _lines_of(client, project, "refused", newest_first=False)[0] == "connection refused to db-primary"
    assert _lines_of(client, project, '"connection refused"') == ["connection refused to db-primary"]
    assert _lines_of(client, project, '"refused connection"') == []
    assert _lines_of(client, project, '{service="api"} -refused') == ["old debug connection check"]
    assert _lines_of(client, project, '{level=~"error|critical", service!="loki"} refused') == [
        "connection refused to db-primary"
    ]
    assert _lines_of(client, project, "timeout OR declined") == [
        "payment declined for Zürich 東京 order",
        "timeout waiting for lock",
    ]
    assert _lines_of(client, project, '{service="cron"}') == ["nightly ERROR job crashed"]
    assert _lines_of(client, project, "/api/users") == ["GET /api/users 200 refused=0"]
    assert _lines_of(client, project, "Zürich 東京") == ["payment declined for Zürich 東京 order"]
    if not postgres:  # unicode61 folds diacritics; PostgreSQL's `simple` keeps them
        assert _lines_of(client, project, "zurich") == ["payment declined for Zürich 東京 order"]
    # Time ranges: relative and RFC 3339.
    assert _lines_of(client, project, "connection", since="1h") == ["connection refused to db-primary"]
    assert "old debug connection check" in _lines_of(client, project, "connection", since="3h")
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600))
    assert _lines_of(client, project, "", until=until) == ["old debug connection check"]
    first = _call(client, "monitoring.logs", {"project": project, "query": "zipped", "since": "30d"})["items"][0]
    assert first["labels"] == {} and first["level"] == ""
    err = _call(client, "monitoring.logs", {"project": project, "query": "lock", "since": "30d"})["items"][0]
    assert err["labels"] == {"env": "prod", "service": "web", "level": "warning"}
    # Another project sees none of it.
    assert _lines_of(client, new_project(platform), "refused") == []

    # Tail: the latest lines and a cursor, then a long poll the writer wakes.
    start = _call(client, "monitoring.tail", {"project": project, "query": "refused", "limit": 2})
    assert [i["line"] for i in start["items"]] == ["GET /api/users 200 refused=0", "pushed refused"]
    got: dict[str, Any] = {}

    def follow() -> None:
        got.update(
            _call(
                client,
                "monitoring.tail",
                {"project": project, "query": "refused", "after": start["cursor"], "wait_s": 20},
            )
        )

    waiter = threading.Thread(target=follow)
    waiter.start()
    _post(platform, f"/ingest/{project}/logs", b'{"msg":"unrelated"}\n{"msg":"late refused \xe2\x9c\x93"}')
    waiter.join(30)
    assert [i["line"] for i in got["items"]] == ["late refused ✓"]
    again = _call(
        client, "monitoring.tail", {"project": project, "query": "refused", "after": got["cursor"], "wait_s": 0}
    )
    assert again["items"] == [] and int(again["cursor"]) >= int(got["cursor"])


def test_lines_over_http_searched_and_tailed(monitored: RunningPlatform, client: PlatformClient, project: str) -> None:
    _ingest_and_search(monitored, client, project, postgres=False)


def test_the_same_on_postgresql(monitored_pg: RunningPlatform) -> None:
    project = new_project(monitored_pg)
    _ingest_and_search(monitored_pg, PlatformClient(monitored_pg.url, monitored_pg.token), project, postgres=True)


def test_bad_queries_and_times_are_refused_naming_the_field(client: PlatformClient, project: str) -> None:
    with pytest.raises(BadInput) as caught:
        client.call("monitoring.logs", {"project": project, "query": '{service="api" timeout'})
    problem = caught.value.errors[0]
    assert problem.field == "query" and "1:16" in problem.message and 'expected "," or "}"' in problem.message
    with pytest.raises(BadInput) as caught:
        client.call("monitoring.tail", {"project": project, "query": 'error "unclosed'})
    assert caught.value.errors[0].field == "query" and "1:7" in caught.value.errors[0].message
    with pytest.raises(BadInput) as caught:
        client.call("monitoring.logs", {"project": project, "since": "last tuesday"})
    assert caught.value.errors[0].field == "since" and "15m" in caught.value.errors[0].fix
    with pytest.raises(BadInput) as caught:
        client.call("monitoring.logs", {"project": project, "since": "now", "until": "1h"})
    assert caught.value.errors[0].field == "since"
    with pytest.raises(BadInput):
        client.call("monitoring.tail", {"project": project, "wait_s": 60})


def test_refusals_over_http(monitored: RunningPlatform, client: PlatformClient, project: str) -> None:
    huge = b'{"msg":"x"}\n' * (16 * 1024 * 1024 // 12 + 10)
    too_large = _post(monitored, f"/ingest/{project}/logs", huge)
    assert too_large.status_code == 413 and "MAX_REQUEST_BYTES" in too_large.json()["fix"]
    bomb = gzip.compress(b"a" * (17 * 1024 * 1024))
    assert _post(monitored, f"/ingest/{project}/logs", bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    proto = _post(monitored, f"/loki/{project}/api/v1/push", b"\x0a\x00", "application/x-protobuf")
    assert proto.status_code == 415 and "application/json" in proto.json()["fix"]
    bad_loki = _post(monitored, f"/loki/{project}/api/v1/push", b'{"streams": [{"values": 3}]}', "application/json")
    assert bad_loki.status_code == 422 and bad_loki.json()["errors"][0]["field"] == "streams[0].values"
    bad_label = _post(monitored, f"/ingest/{project}/logs?9lives=x", b"line")
    assert bad_label.status_code == 422 and bad_label.json()["errors"][0]["field"] == "9lives"

    viewer = f"logs-viewer-{uuid.uuid4().hex[:6]}"
    client.call("members.add", {"username": viewer, "role": "viewer"})
    token = _call(client, "tokens.create", {"name": "t", "username": viewer})["token"]
    refused = _post(monitored, f"/ingest/{project}/logs", b"hello", token=token)
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    assert _post(monitored, f"/loki/{project}/api/v1/push", b"{}", "application/json", token=token).status_code == 403
    assert _post(monitored, f"/ingest/{project}/logs", b"hello", token="").status_code == 401
    assert _post(monitored, "/ingest/no-such-project/logs", b"hello").status_code == 404
    # A viewer reads what others sent.
    assert _call(PlatformClient(monitored.url, token), "monitoring.logs", {"project": project})["items"] == []


def test_job_output_becomes_logs_of_the_jobs_project(client: PlatformClient, project: str) -> None:
    ref = client.call("env.import", {"project": project, "content": "LOGS_A=1\nLOGS_B=2\n"})
    job = client.wait(ref.job_id)
    assert job.state == "succeeded"
    query = f'{{source="job", operation="env.import", job="{ref.job_id}"}}'
    found = _eventually(
        lambda: (
            (lines := _lines_of(client, project, query, newest_first=False))
            and lines[-1].startswith("[succeeded]")
            and lines
        ),
        "the job's lines up to its end",
    )
    assert any("writing 2 variable(s)" in line for line in found)
    # Followed once: a second look finds the same lines, not copies.
    time.sleep(0.6)
    assert _lines_of(client, project, query, newest_first=False) == found


# ---- chunked storage (SQLite): lines stored and indexed in chunks, read back one by one ----


def test_chunks_answer_line_by_line_in_arrival_order(small_store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from codeforge.platform.monitoring.logs import store_sqlite

    monkeypatch.setattr(store_sqlite, "CHUNK_LINES", 7)  # many chunks per request
    monkeypatch.setattr(small_store.config, "ingest_queue_lines", 10_000)
    now = time.time_ns()
    streams = [{"app": "a"}, {"app": "b"}, {"app": "c", "level": "error"}]
    sent: list[tuple[str, dict[str, str], int]] = []
    for request in range(6):
        records = []
        for i in range(40):
            n = request * 40 + i
            word = "even" if n % 2 == 0 else "odd"
            line = f"{word} line {n} user_id={n % 5}" + (" connection" if n % 4 == 0 else " refused")
            records.append(LogRecord(now + n, line, streams[n % 3], {"n": n} if n % 10 == 0 else {}))
            sent.append((line, streams[n % 3], now + n))
        small_store.ingest("p", records)
    assert small_store.flush(30)

    every = small_store.search("p", "", None, None, 5000, False)
    assert [s.line for s in every] == [line for line, _, _ in sent]  # ids follow arrival, across streams
    assert [s.labels for s in every] == [labels for _, labels, _ in sent]
    assert every[0].attributes == {"n": 0} and every[1].attributes == {}
    ids = [s.id for s in every]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    def brute(keep: Callable[[str, dict[str, str], int], bool]) -> list[str]:
        return [line for line, labels, t in reversed(sent) if keep(line, labels, t)]

    assert [s.line for s in small_store.search("p", "even", None, None, 25, True)] == brute(
        lambda line, _, __: line.startswith("even ")
    )[:25]
    assert [s.line for s in small_store.search("p", '{app="b"} -odd', None, None, 9, True)] == brute(
        lambda line, labels, _: labels["app"] == "b" and not line.startswith("odd ")
    )[:9]
    assert [s.line for s in small_store.search("p", "user_id=3 OR 17", None, None, 5000, False)] == list(
        reversed(brute(lambda line, _, __: "user_id=3" in line or " 17 " in line))
    )
    # An excluded word elsewhere in a chunk leaves its other lines found.
    assert [s.line for s in small_store.search("p", "even -connection", None, None, 5000, True)] == brute(
        lambda line, _, __: line.startswith("even ") and "connection" not in line
    )
    assert small_store.count("p", "line -refused OR user_id=4 -even") == len(
        brute(lambda line, _, __: "refused" not in line or ("user_id=4" in line and not line.startswith("even ")))
    )
    # Two lines of one chunk side by side do not make a phrase.
    assert small_store.count("p", '"connection refused"') == 0
    assert small_store.count("p", '"refused even"') == 0 and small_store.count("p", '"connection odd"') == 0
    assert small_store.count("p", "connection refused") == 0
    window = (now + 100, now + 150)
    assert [s.line for s in small_store.search("p", "odd", *window, 5000, True)] == brute(
        lambda line, _, t: line.startswith("odd ") and window[0] <= t <= window[1]
    )
    assert small_store.count("p", "", *window) == 51 and small_store.count("p", '{app="a"}') == 80
    assert small_store.count("p", "-even") == 120

    # A tail pages through everything in order, 13 lines at a time.
    got: list[str] = []
    cursor = 0
    while True:
        page, cursor = small_store.tail("p", "", cursor, 0, 13)
        if not page:
            break
        got.extend(s.line for s in page)
    assert got == [line for line, _, _ in sent]


def test_retention_rewrites_a_chunk_partly_too_old(small_store: LogStore) -> None:
    old = time.time_ns() - 30 * 86400 * 10**9
    labels = {"app": "mixed"}
    records = [LogRecord(old + i, f"ancient {i}", labels) for i in range(20)]
    records += [LogRecord(time.time_ns(), f"recent {i}", labels) for i in range(10)]
    small_store.ingest("p", records)
    assert small_store.flush(30)
    assert small_store.backend.delete_before(time.time_ns() - 86400 * 10**9) == 20
    assert small_store.count("p", "") == 10 and small_store.count("p", "ancient") == 0
    assert [s.line for s in small_store.search("p", "recent", None, None, 3, True)] == [
        "recent 9",
        "recent 8",
        "recent 7",
    ]


_V1_SCHEMA = (
    "CREATE TABLE streams (id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, labels TEXT NOT NULL,"
    " UNIQUE (project_id, labels))",
    "CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL, time_ns INTEGER NOT NULL,"
    " level TEXT NOT NULL, line TEXT NOT NULL, attributes TEXT, trace_id TEXT, span_id TEXT)",
    "CREATE INDEX logs_stream ON logs (stream_id, id)",
    "CREATE VIRTUAL TABLE logs_fts USING fts5(line, content='logs', content_rowid='id',"
    " detail=full, columnsize=0, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TABLE cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


def test_a_logs_file_of_the_per_line_layout_is_converted_with_its_ids(tmp_path: Path) -> None:
    folder = tmp_path / "monitoring"
    folder.mkdir()
    conn = sqlite3.connect(folder / "logs.db", isolation_level=None)
    for statement in _V1_SCHEMA:
        conn.execute(statement)
    conn.execute("""INSERT INTO streams VALUES (1, 'p', '{"app":"api"}'), (2, 'p', '{"app":"web"}')""")
    now = time.time_ns()
    for i in range(1, 31):
        conn.execute(
            "INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i * 2,
                1 + i % 2,
                now + i,
                "error" if i % 2 else "info",
                f"old line {i} Zürich",
                '{"k":1}' if i == 3 else None,
                "ab" if i == 3 else None,
                None,
            ),
        )
    conn.execute("INSERT INTO logs_fts (rowid, line) SELECT id, line FROM logs")
    conn.execute("DELETE FROM logs WHERE id = 60")  # the last id is gone; ids must not repeat it
    conn.execute("INSERT INTO cursors VALUES ('jobs', 7)")
    conn.execute("PRAGMA user_version=1")
    conn.close()

    store = LogStore(Monitoring(Settings(data_dir=tmp_path)))
    store.start()
    try:
        assert store.backend.last_id() == 60 and store.backend.get_cursor("jobs") == 7
        assert store.count("p", "") == 29 and store.count("p", "zurich") == 29
        found = store.search("p", '{app="web"} "line 3"', None, None, 10, True)
        assert [(s.id, s.line, s.attributes, s.trace_id, s.level) for s in found] == [
            (6, "old line 3 Zürich", {"k": 1}, "ab", "error")
        ]
        assert [s.id for s in store.search("p", "old", None, None, 3, True)] == [58, 56, 54]
        store.ingest("p", [LogRecord(now, "new line", {"app": "api"})])
        assert store.flush(30)
        page, cursor = store.tail("p", "", 58, 0, 10)
        assert [(s.id, s.line) for s in page] == [(61, "new line")] and cursor == 61
    finally:
        store.stop()
        store.close()
    tables = {row[0] for row in sqlite3.connect(folder / "logs.db").execute("SELECT name FROM sqlite_master")}
    assert "logs" not in tables and "chunks" in tables
