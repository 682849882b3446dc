"""Policies as code: Rego files evaluated by regorus, one decision point per file, failing closed.

Each decision point ``<point>`` is a file ``policies/<point>.rego`` holding ``package openclaw.<point>``
with a ``deny`` set of reasons a person can read; the input is allowed exactly when ``deny`` is
defined and empty. Anything else (no such package, an undefined or non-set ``deny``, a reason that
is not a string, an evaluation error) is a ``PolicyError``: the caller refuses, it never guesses.
Tests live beside the policies in ``<point>_test.rego``; every rule named ``test_*`` must be true.

A decision names what it judged and by what: the SHA-256 of the input's canonical JSON (sorted
keys, no blanks, UTF-8) and the hash of the policy bundle, so a ledger entry can be checked later
against the very policy text that made it.

regorus engines are bound to the thread that made them (pyo3 "unsendable": a lock does not help,
another thread touching one panics), so ``Policies`` keeps one engine per thread, built from the
sources it read once at ``load``. ``python -m openclaw_assets.control.policy test`` runs the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).resolve().parent / "policies"
POINTS = ("publish_partition", "feast_apply", "register_model", "promote_model", "gateway_request")
PACKAGE_PREFIX = "openclaw."
TEST_SUFFIX = "_test.rego"
TEST_PREFIX = "test_"


class PolicyError(Exception):
    """A policy that cannot be loaded, or that gives an undefined or ill-typed answer: refuse, never guess."""


@dataclass(frozen=True)
class Decision:
    """One policy decision: allowed iff no reason to deny, with the digests of what was judged and by what."""

    point: str
    allowed: bool
    reasons: tuple[str, ...]
    input_digest: str
    bundle_hash: str

    def facts(self) -> dict[str, Any]:
        """The decision as JSON-safe facts for a ledger entry."""
        return {
            "point": self.point,
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "input_digest": self.input_digest,
            "bundle_hash": self.bundle_hash,
        }


@dataclass(frozen=True)
class PolicyTest:
    """The outcome of one ``test_*`` rule: ``<package>.<rule>``, whether it was true, and why not."""

    name: str
    passed: bool
    message: str


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, compact separators, no NaN; raises PolicyError."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"the input is not JSON: {exc}") from None


def input_digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``, as recorded in a decision."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def bundle_hash(sources: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 over the policy files sorted by name: each is its name, a NUL, its length, a NUL, its bytes."""
    digest = hashlib.sha256()
    for name, data in sorted(sources):
        digest.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def _engine_message(exc: BaseException) -> str:
    """regorus's error as one line, ``file:line:col: problem``, without the Rust backtrace it may carry."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    where = re.search(r"-->\s*(\S+)", text)
    what = re.search(r"^error:\s*(.+)$", text, re.M)
    if where and what:
        return f"{where.group(1)}: {what.group(1).strip()}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _read_sources(directory: Path, tests: bool) -> list[tuple[str, str]]:
    """(file name, text) of the policy files (or of the test files) in ``directory``, sorted by name."""
    if not directory.is_dir():
        raise PolicyError(f"no policy directory at {directory}")
    found = []
    for path in sorted(directory.glob("*.rego")):
        if path.name.endswith(TEST_SUFFIX) != tests:
            continue
        try:
            found.append((path.name, path.read_bytes().decode("utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc}") from None
    return found


def _new_engine(sources: Sequence[tuple[str, str]]) -> Any:
    """A regorus engine with ``sources`` parsed (Rego v1); a file that does not parse is a PolicyError."""
    import regorus

    engine = regorus.Engine()
    for name, text in sources:
        try:
            engine.add_policy(name, text)
        except RuntimeError as exc:
            raise PolicyError(f"policy {_engine_message(exc)}") from None
    return engine


class Policies:
    """A loaded policy bundle: decisions at any thread, one regorus engine per thread."""

    def __init__(self, directory: Path, sources: Sequence[tuple[str, str]]) -> None:
        self.directory = directory
        self.sources = tuple(sources)
        self.files = tuple(name for name, _ in self.sources)
        self.bundle_hash = bundle_hash([(name, text.encode("utf-8")) for name, text in self.sources])
        self._local = threading.local()
        engine = self._engine()  # parse in this thread now: a broken policy fails the load, not a request
        self.packages = frozenset(name.removeprefix("data.") for name in engine.get_packages())

    @classmethod
    def load(cls, directory: Path | None = None) -> Policies:
        """Read and compile every non-test ``.rego`` file of ``directory`` (default ``POLICY_DIR``) once."""
        directory = Path(directory) if directory is not None else POLICY_DIR
        sources = _read_sources(directory, tests=False)
        if not sources:
            raise PolicyError(f"no policy files (*.rego) in {directory}")
        return cls(directory, sources)

    @property
    def points(self) -> tuple[str, ...]:
        """The decision points this bundle can decide: its ``openclaw.<point>`` packages."""
        return tuple(sorted(p.removeprefix(PACKAGE_PREFIX) for p in self.packages if p.startswith(PACKAGE_PREFIX)))

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = _new_engine(self.sources)
        return engine

    def decide(self, point: str, input: Mapping[str, Any]) -> Decision:
        """Evaluate ``data.openclaw.<point>.deny`` on ``input``: allowed iff it is an empty set."""
        package = PACKAGE_PREFIX + point
        if package not in self.packages:
            raise PolicyError(f"no policy for {point!r}: no package {package} in {self.directory}")
        text = canonical_json(input)
        engine = self._engine()
        try:
            engine.set_input_json(text)
            deny = engine.eval_rule(f"data.{package}.deny")
        except RuntimeError as exc:
            message = _engine_message(exc)
            if "not a valid rule path" in message:
                raise PolicyError(f"{point}: deny is undefined: package {package} has no deny rule") from None
            raise PolicyError(f"{point}: {message}") from None
        if deny is None:
            raise PolicyError(f"{point}: deny is undefined (or null) for this input")
        if not isinstance(deny, set):
            raise PolicyError(f"{point}: deny must be a set of reasons, not a {type(deny).__name__}")
        if not all(isinstance(reason, str) for reason in deny):
            raise PolicyError(f"{point}: every reason in deny must be a string, not {sorted(map(repr, deny))}")
        return Decision(
            point=point,
            allowed=not deny,
            reasons=tuple(sorted(deny)),
            input_digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            bundle_hash=self.bundle_hash,
        )


_default: Policies | None = None
_default_lock = threading.Lock()


def load_policies() -> Policies:
    """The project's bundle (``POLICY_DIR``), loaded once per process; it must decide every point of POINTS."""
    global _default
    with _default_lock:
        if _default is None:
            loaded = Policies.load()
            missing = [point for point in POINTS if point not in loaded.points]
            if missing:
                raise PolicyError(f"the policy bundle in {POLICY_DIR} lacks {', '.join(missing)}")
            _default = loaded
        return _default


# ---------------------------------------------------------------- the test runner


def _ref_name(node: Mapping[str, Any]) -> str:
    """``a.b.c`` from the AST of a reference made of names and dotted fields."""
    if "Var" in node:
        return str(node["Var"]["value"])
    if "RefDot" in node:
        return f"{_ref_name(node['RefDot']['refr'])}.{node['RefDot']['field'][1]}"
    raise ValueError(f"not a plain reference: {sorted(node)}")


def _test_rules(engine: Any, test_files: set[str]) -> list[tuple[str, str]]:
    """(package, rule) of every ``test_*`` rule in ``test_files``, in file order, each once."""
    found: dict[tuple[str, str], None] = {}
    for module in json.loads(engine.get_ast_as_json()):
        if module["source"]["file"] not in test_files:
            continue
        package = _ref_name(module["ast"]["package"]["refr"])
        for rule in module["ast"]["rules"]:
            for kind in rule.values():  # {"Spec": {...}} or {"Default": {...}}
                head = kind.get("head")
                if not isinstance(head, dict):
                    continue
                for shape in head.values():
                    try:
                        name = _ref_name(shape["refr"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if name.startswith(TEST_PREFIX):
                        found[(package, name)] = None
    return list(found)


def _tested_engine(directory: Path | None, coverage: bool) -> tuple[Any, list[PolicyTest], set[str], set[str]]:
    """An engine with the policies and every test file that parses, and a failed test for each that does not."""
    directory = Path(directory) if directory is not None else POLICY_DIR
    policies = _read_sources(directory, tests=False)
    tests = _read_sources(directory, tests=True)
    engine = _new_engine(policies)
    if coverage:
        engine.set_enable_coverage(True)
    broken: list[PolicyTest] = []
    loaded: set[str] = set()
    for name, text in tests:
        try:
            engine.add_policy(name, text)
            loaded.add(name)
        except RuntimeError as exc:
            broken.append(PolicyTest(name, False, f"does not parse: {_engine_message(exc)}"))
    if not tests:
        broken.append(PolicyTest(str(directory), False, f"no test files (*{TEST_SUFFIX})"))
    return engine, broken, loaded, {name for name, _ in policies}


def _run(engine: Any, rules: list[tuple[str, str]]) -> list[PolicyTest]:
    results = []
    for package, rule in rules:
        name = f"{package}.{rule}"
        try:
            value = engine.eval_rule(f"data.{name}")
        except RuntimeError as exc:
            results.append(PolicyTest(name, False, f"error: {_engine_message(exc)}"))
            continue
        if value is True:
            results.append(PolicyTest(name, True, "ok"))
        elif value is None:
            results.append(PolicyTest(name, False, "undefined (a condition did not hold)"))
        else:
            results.append(PolicyTest(name, False, f"gave {json.dumps(value, default=str)}, not true"))
    return results


def run_tests(directory: Path | None = None) -> list[PolicyTest]:
    """Evaluate every ``test_*`` rule of the ``*_test.rego`` files against the policies; false or undefined fails.

    A test file that does not parse is one failed test named after it; a policy that does not parse
    is a PolicyError.
    """
    engine, broken, loaded, _ = _tested_engine(directory, coverage=False)
    return broken + _run(engine, _test_rules(engine, loaded))


def _statement_lines(text: str) -> list[int]:
    """The lines of a policy that hold rules: neither blank, nor a comment, nor ``package`` or ``import``."""
    skip = ("#", "package ", "import ")
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith(skip)]


def uncovered_lines(directory: Path | None = None) -> dict[str, list[int]]:
    """Run the tests with coverage on: each policy file's lines that no test reached (empty lists when all did).

    regorus reports only the files a test evaluated: a policy no test reaches has every rule line unreached.
    """
    engine, _, loaded, policy_files = _tested_engine(directory, coverage=True)
    _run(engine, _test_rules(engine, loaded))
    report = {item.get("path"): item for item in json.loads(engine.get_coverage_report_as_json()).get("files", [])}
    found = {}
    for name in sorted(policy_files):
        item = report.get(name)
        if item is None or not item.get("covered"):
            found[name] = _statement_lines(item["code"] if item else (Path(directory or POLICY_DIR) / name).read_text())
        else:
            found[name] = sorted(item.get("not_covered", []))
    return found


# ---------------------------------------------------------------- the command line


def main(argv: list[str] | None = None) -> int:
    """``test``: run the policy tests (exit 1 if any fails); ``decide POINT JSON``: one decision (exit 1 if denied)."""
    parser = argparse.ArgumentParser(prog="python -m openclaw_assets.control.policy", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    test = commands.add_parser("test", help="run every test_* rule of the *_test.rego files, and show coverage")
    test.add_argument("--dir", type=Path, default=None, help=f"the policy directory (default {POLICY_DIR})")
    decide = commands.add_parser("decide", help="decide one input and print the decision as JSON")
    decide.add_argument("point", help=f"a decision point: {', '.join(POINTS)}")
    decide.add_argument("input", help="the input document as JSON, or - to read it from stdin")
    decide.add_argument("--dir", type=Path, default=None, help=f"the policy directory (default {POLICY_DIR})")
    args = parser.parse_args(argv)
    try:
        if args.command == "test":
            return _test_command(args.dir)
        text = sys.stdin.read() if args.input == "-" else args.input
        try:
            document = json.loads(text)
        except ValueError as exc:
            print(f"error: the input is not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(document, dict):
            print("error: the input must be a JSON object", file=sys.stderr)
            return 2
        decision = Policies.load(args.dir).decide(args.point, document)
        print(json.dumps(decision.facts(), indent=2))
        return 0 if decision.allowed else 1
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if args.command == "decide" else 1


def _test_command(directory: Path | None) -> int:
    results = run_tests(directory)
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name}" + ("" if result.passed else f": {result.message}"))
    failed = [r for r in results if not r.passed]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    for name, lines in uncovered_lines(directory).items():
        print(f"coverage {name}: " + (f"lines {', '.join(map(str, lines))} not reached" if lines else "every line"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
