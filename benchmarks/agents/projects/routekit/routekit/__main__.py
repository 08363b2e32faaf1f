"""python -m routekit FILE SOURCE TARGET: the shortest path and its length."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from routekit.dijkstra import shortest_path
from routekit.errors import GraphError, NoPath
from routekit.io import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routekit")
    parser.add_argument("file", type=Path)
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    try:
        graph = load(args.file)
        length, path = shortest_path(graph, args.source, args.target)
    except (OSError, GraphError, NoPath) as exc:
        print(f"routekit: {exc}", file=sys.stderr)
        return 1
    print(f"{' -> '.join(path)} ({length:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
