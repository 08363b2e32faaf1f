"""Every bridge figure, each against its baseline measured in the same run:

    lsp       a language-server request through connect + bridge vs local stdio (bridge_lsp.py)
    sync      initial sync vs rsync, a change reaching the other side (bridge_sync.py)
    terminal  keystroke echo round trip (bridge_terminal.py)
    dap       a debug-adapter request through connect + bridge vs debugpy directly, and one
              stop fanned out to 10 clients (dap.py)
    load      200 editors' language-server sessions on one bridge (bridge_load.py; --with-load)

    .venv/bin/python -m benchmarks.bridge [--only lsp,sync] [--with-load]

A failing benchmark does not stop the others; the exit status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
import traceback

PARTS = {
    "lsp": "benchmarks.bridge_lsp",
    "sync": "benchmarks.bridge_sync",
    "terminal": "benchmarks.bridge_terminal",
    "dap": "benchmarks.dap",
    "load": "benchmarks.bridge_load",
}


def run(name: str, module_name: str) -> bool:
    print(f"\n== {name} ({module_name}) ==", flush=True)
    module = importlib.import_module(module_name)
    started = time.monotonic()
    try:
        main = module.main
        # Each benchmark parses its own options: give it none (its defaults).
        result = main([]) if inspect.signature(main).parameters else main()
    except SystemExit as exit_:
        result = exit_.code
    except Exception:
        traceback.print_exc()
        return False
    print(f"({time.monotonic() - started:.0f} s)", flush=True)
    return result in (None, 0) or isinstance(result, dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--with-load", action="store_true", help="also the 200-session load (about 2 minutes)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else [n for n in PARTS if n != "load" or args.with_load]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    failed = [name for name in names if not run(name, PARTS[name])]
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
