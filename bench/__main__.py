"""``python -m bench [run] [CASE ...] [--quick] [--set KEY=VALUE]``, ``python -m bench report|list``.

``run`` measures the named cases (all by default) and writes ``bench/results/<case>.json``; ``report``
rewrites the generated blocks of README.md and bench/README.md from those results (full-settings
runs only, unless ``--include-quick``) and, for a case without one, from ``bench/recorded.json``.
A case with a block of its own (``gates``) fills it only from a result of its own, never from a
fallback. ``report CASE ...`` rewrites only those cases' own blocks and bench/README.md's list of cases.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench import runner


def cases() -> list[runner.Case]:
    from bench import anomaly, compute, control, data, drift, features, gates, ledger, living, models, tracing

    cases = [*data.CASES, *features.CASES, *models.CASES, *gates.CASES, *compute.CASES, *control.CASES]
    return [*cases, *ledger.CASES, *living.CASES, *drift.CASES, *anomaly.CASES, *tracing.CASES]


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
        named = [known[name] for name in args.cases if name in known]
        if len(named) != len(args.cases) or not all(case.block for case in named):
            parser.error(f"report takes cases with a block of their own: {[c.name for c in all_cases if c.block]}")
        if not named:
            runner.rewrite(runner.ROOT / "README.md", runner.performance_block(all_cases, args.include_quick))
        for case in named or [c for c in all_cases if c.block]:
            lines = runner.own_block(case, args.include_quick)
            if lines is None:
                print(f"{case.name}: no result to report, its block is left as it is")
                continue
            runner.rewrite(runner.ROOT / "README.md", lines, case.block)
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
