"""python -m mdlite FILE [--toc]: the file's HTML on stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mdlite.render import to_html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mdlite")
    parser.add_argument("file", type=Path)
    parser.add_argument("--toc", action="store_true", help="a table of contents first")
    args = parser.parse_args(argv)
    try:
        source = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"mdlite: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(to_html(source, toc=args.toc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
