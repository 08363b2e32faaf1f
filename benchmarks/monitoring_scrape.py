"""Scrape-and-store cost per 10,000 series, against baselines measured in the same run.

An exposition of N series (default 10,000: 1,000 counters x 10 label values) is served on
loopback; each round times

- `scrape`: CodeForge's whole scrape of it (HTTP GET, prometheus_client's parser, job/instance
  labels, the synthetic series, MetricsStore.write in one transaction), series already known,
  as every scrape after the first;
- `first scrape`: the same into a store that has not seen the series (their rows are made);
- `parse only`: prometheus_client's `text_string_to_metric_families` over the same body;
- `executemany`: a plain `executemany` of the same (series id, time, value) rows into a
  WITHOUT ROWID SQLite table in one transaction (the least a store can do).

The ratio `scrape / (parse only + executemany)` says what the store adds over parsing and a
bare insert.

    .venv/bin/python -m benchmarks.monitoring_scrape                # 10,000 series, 5 rounds
    .venv/bin/python -m benchmarks.monitoring_scrape --series 50000 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from codeforge.platform.monitoring.metrics.scraper import TargetSpec
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings

__all__ = ["exposition", "main", "measure"]


def exposition(series: int) -> str:
    lines = []
    per_metric = 10
    for m in range(max(1, series // per_metric)):
        lines.append(f"# HELP bench_metric_{m}_total A counter.\n# TYPE bench_metric_{m}_total counter")
        for i in range(per_metric):
            lines.append(f'bench_metric_{m}_total{{path="/api/{i}",method="GET"}} {m * per_metric + i}')
    return "\n".join(lines) + "\n"


def _serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metrics"


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _executemany(folder: Path, rows: list[tuple[int, int, float]]) -> Callable[[], None]:
    conn = sqlite3.connect(folder / "baseline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE samples (series_id INTEGER, t_ms INTEGER, value REAL, PRIMARY KEY (series_id, t_ms)) WITHOUT ROWID"
    )
    shift = [0]

    def run() -> None:
        shift[0] += 15_000
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?)", [(s, t + shift[0], v) for s, t, v in rows])
        conn.execute("COMMIT")

    return run


def measure(series: int = 10_000, rounds: int = 5, database_url: str = "") -> dict[str, Any]:
    body = exposition(series)
    server, url = _serve(body.encode())
    times: dict[str, list[float]] = {"scrape": [], "first scrape": [], "parse only": [], "executemany": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            insert = _executemany(folder, [(i, 1_700_000_000_000, float(i)) for i in range(series)])
            spec = TargetSpec(id="bench", project_id="bench", name="bench", url=url, interval_s=15, timeout_s=60)
            for r in range(rounds):
                # A new store each round for the first scrape; the steady state on the same one.
                extra = {"database_url": database_url} if database_url else {}
                monitoring = Monitoring(Settings(data_dir=folder / f"round{r}", **extra))
                scraper = monitoring.part("scraper")
                try:
                    times["first scrape"].append(_timed(lambda: scraper.scrape(spec)))  # noqa: B023 -- run at once
                    times["scrape"].append(_timed(lambda: scraper.scrape(spec)))  # noqa: B023 -- series known now
                    health = scraper.scrape(spec)
                    assert health.up and health.samples == series, health
                finally:
                    monitoring.stop()
                    scraper.close()
                times["parse only"].append(_timed(lambda: list(text_string_to_metric_families(body))))
                times["executemany"].append(_timed(insert))
    finally:
        server.shutdown()
    medians = {name: statistics.median(values) for name, values in times.items()}
    per_10k = {name: seconds * 1000 * 10_000 / series for name, seconds in medians.items()}
    baseline = medians["parse only"] + medians["executemany"]
    return {
        "series": series,
        "rounds": rounds,
        "backend": "postgresql" if database_url else "sqlite",
        "ms_per_10k_series": {k: round(v, 1) for k, v in per_10k.items()},
        "scrape_vs_parse_plus_executemany": round(medians["scrape"] / baseline, 2),
        "scrape_vs_parse_only": round(medians["scrape"] / medians["parse only"], 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default="", help="a postgresql+psycopg:// URL: the store on PostgreSQL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.series, args.rounds, args.postgres)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"scrape and store, {result['series']:,} series, {result['backend']}, median of {result['rounds']}:")
        for name, ms in result["ms_per_10k_series"].items():
            print(f"  {name:<14} {ms:8.1f} ms per 10,000 series")
        print(f"  scrape / (parse only + executemany) = {result['scrape_vs_parse_plus_executemany']}x")
        print(f"  scrape / parse only                 = {result['scrape_vs_parse_only']}x")
    return result


if __name__ == "__main__":
    main()
