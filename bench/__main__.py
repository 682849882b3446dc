"""``python -m bench [run] [CASE ...] [--quick] [--set KEY=VALUE]``, ``python -m bench report|list``.

``run`` measures the named cases (all by default) and writes ``bench/results/<case>.json``; ``report``
rewrites the generated blocks of README.md and bench/README.md from those results (full-settings
runs only, unless ``--include-quick``) and, for a case without one, from ``bench/recorded.json``.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench import runner


def cases() -> list[runner.Case]:
    from bench import compute, data, features, models

    return [*data.CASES, *features.CASES, *models.CASES, *compute.CASES]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return runner.child_main(*argv[1:])
    if argv[:1] and argv[0] not in ("run", "report", "list") and not argv[0].startswith("-"):
        argv = ["run", *argv]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "report", "list"])
    parser.add_argument("cases", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="each case's quickest settings, to prove it works")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting (JSON)")
    parser.add_argument("--include-quick", action="store_true", help="report: use quick results too")
    args = parser.parse_args(argv)
    known = {case.name: case for case in cases()}
    if args.command == "list":
        for case in known.values():
            print(f"{case.name:12} full {case.full}  quick {case.quick}")
        return 0
    if args.command == "report":
        all_cases = list(known.values())
        runner.rewrite(runner.ROOT / "README.md", runner.performance_block(all_cases, args.include_quick))
        runner.rewrite(runner.ROOT / "bench" / "README.md", runner.cases_block(all_cases))
        print("rewrote the generated blocks of README.md and bench/README.md")
        return 0
    unknown = [name for name in args.cases if name not in known]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(known)}")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    failed = []
    for name in args.cases or list(known):
        try:
            runner.run_case(known[name], args.quick, overrides)
        except runner.BenchError as exc:
            print(f"{name} FAILED: {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
