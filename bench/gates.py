"""Model gates case: each evaluation gate's pass rate over the 2013 windows, for the real model and degraded ones.

A window trains on some months of a home's training set and holds out later ones. Three schemes:
``expanding`` (2013-01 up to month k-1, holding out k), ``sliding`` (the ``sliding_months`` months before k)
and ``run`` (what ``openclaw run --months 2013-01:2013-X`` splits off, ``cli.split_months``). In the first
two the champion is the real model of the window before, as with a retrain every month; a ``run`` window has
none (a fresh home). Every variant is fit with the project's ``fit``, scored through the registered model's
code (``training.predict``), its figures gathered by ``training.evaluation_figures`` and judged by
``models.assets.judge`` under ``GateConfig``: the verdicts ``model_evaluation`` would give.

Fitting is what costs; judging is cheap. Scores are kept under ``bench/results/cache/gates`` (git-ignored),
keyed by the training set's content, the parameters, the training and scoring code, the variant and the
months: a changed gate rule is judged again in a few minutes, a changed model is fit again.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.models import TRAINING_SET, default_home, needs
from bench.runner import RESULTS, ROOT, BenchError, Case, imports, run_task

VARIANTS = {
    "real": "real model",
    "shuffled": "labels shuffled",
    "no_weather_hourly": "no `weather_hourly`",
    "no_carrier_stats": "no `carrier_stats`",
    "no_tail_recent": "no `tail_recent`",
    "weighted": "delays weighted 3x",
}
"""What each variant is, as the tables name it. ``no_<view>``: the view's columns empty in training and
holdout (a model trained and judged without it); ``shuffled``: the training labels permuted;
``weighted``: delayed flights weighted 3x in the fit (``scale_pos_weight``), which ranks as well and
over-states every probability."""
GATES = ("quality_floor", "no_regression_vs_champion", "slice_floor", "calibration")
"""The gates judged here: ``training_data_gates_passed`` is about the training set's run, not the model."""
SCHEMES = ("expanding", "sliding", "run")
RULES = {
    "fixed thresholds, as before (`z` 0, `min_baseline_lift` 0)": {"z": 0.0, "min_baseline_lift": 0.0},
    "the tests' former loosening (fixed, calibration ceiling 0.1)": {
        "z": 0.0,
        "min_baseline_lift": 0.0,
        "max_calibration_error": 0.1,
    },
    "`z` 2": {"z": 2.0},
}
"""Other gate rules judged on the same scores, over ``GateConfig`` (and the ``gates`` setting)."""
CACHE = RESULTS / "cache" / "gates"
SCORING_CODE = [str(ROOT / "openclaw_assets" / "models" / name) for name in ("training.py", "pyfunc.py")]
"""What the cached scores depend on besides the data and the parameters."""
VARIANTS_VERSION = 1
"""Part of the cache key: raise it when what a variant fits changes."""


def windows(schemes: list[str], last_month: int, sliding_months: int) -> list[dict[str, Any]]:
    """The windows to judge: training months, holdout months and the champion's training months (or None)."""
    months = [f"2013-{month:02d}" for month in range(1, last_month + 1)]
    out = []
    if "expanding" in schemes:
        for k in range(1, len(months)):
            out.append(
                {"scheme": "expanding", "train": months[:k], "holdout": [months[k]], "champion": months[: k - 1]}
            )
    if "sliding" in schemes:
        n = sliding_months
        for k in range(n, len(months)):
            champion = months[k - n - 1 : k - 1] if k > n else []
            out.append({"scheme": "sliding", "train": months[k - n : k], "holdout": [months[k]], "champion": champion})
    if "run" in schemes:
        for last in range(2, len(months) + 1):
            train, holdout = p.split_months(months[:last])
            out.append({"scheme": "run", "train": train, "holdout": holdout, "champion": []})
    return [w | {"champion": w["champion"] or None} for w in out]


def span(months: list[str]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]}..{months[-1][5:]}"


# ---------------------------------------------------------------- the child


class Scorer:
    """Fits, scores and caches: one variant trained on some months, scoring some held-out months."""

    def __init__(self, training_set: Path, cache: Path, params: dict[str, Any], seed: int):
        import pandas as pd

        self.frame, self.params, self.seed = pd.read_parquet(training_set), params, seed
        self.keys = p.month_keys(self.frame)
        code = {name: hashlib.sha256(Path(name).read_bytes()).hexdigest() for name in SCORING_CODE}
        content = hashlib.sha256(training_set.read_bytes()).hexdigest()
        key = {"params": params, "seed": seed, "training_set": content, "code": code, "variants": VARIANTS_VERSION}
        digest = json.dumps(key, sort_keys=True)
        self.cache = cache
        self.digest = hashlib.sha256(digest.encode()).hexdigest()[:16]
        self.models: dict[tuple[str, str], Any] = {}
        self.fits = self.cached = 0

    def rows(self, months: list[str], variant: str):
        import numpy as np

        data = self.frame[self.keys.isin(set(months)).to_numpy()].reset_index(drop=True)
        if variant.startswith("no_"):
            columns = list(p.VIEW_BY_NAME[variant.removeprefix("no_")].features)
            data[columns] = np.nan
        return data

    def _model(self, train: list[str], variant: str):
        key = (span(train), variant)
        if key not in self.models:
            if len(self.models) > 2:  # the last real model is the next window's champion: keep a few
                self.models.pop(next(iter(self.models)))
            data = self.rows(train, variant)
            if variant == "shuffled":
                import numpy as np

                data[p.LABEL] = np.random.default_rng(self.seed).permutation(data[p.LABEL].to_numpy())
            features = p.BASELINE_FEATURES if variant == "baseline" else p.FEATURES
            params = {"n_estimators": 200} if variant == "baseline" else dict(self.params)
            if variant == "weighted":
                params["scale_pos_weight"] = 3.0
            prepared = p.prepare(data, features)
            self.models[key] = (p.fit(data, prepared, params, self.seed), prepared)
            self.fits += 1
        return self.models[key]

    def scores(self, train: list[str], variant: str, holdout: list[str]):
        import numpy as np

        path = self.cache / self.digest / variant / f"{span(train)}__{span(holdout)}.npy"
        if path.exists():
            self.cached += 1
            return np.load(path)
        model, prepared = self._model(train, variant)
        values = p.predict(model, prepared, self.rows(holdout, variant))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, values)
        return values


def judge_windows(spec: dict[str, Any]) -> dict[str, Any]:
    """Every window's figures and verdicts for every variant."""
    imports("pandas", "lightgbm", "sklearn.metrics", "scipy.stats", p.TRAINING, "openclaw_assets.models.assets")
    defaults = p.TrainConfig()
    params = defaults.params() | ({"n_estimators": spec["trees"]} if spec["trees"] else {})
    scorer = Scorer(Path(spec["training_set"]), Path(spec["cache"]), params, defaults.seed)
    config = p.GateConfig(**spec["gates"])
    others = {name: p.GateConfig(**spec["gates"] | rule) for name, rule in spec["rules"].items()}
    fewest = min(c.min_slice_rows for c in [config, *others.values()])
    judged = []
    for window in spec["windows"]:
        holdout = scorer.rows(window["holdout"], "real")
        baseline = scorer.scores(window["train"], "baseline", window["holdout"])
        champion = scorer.scores(window["champion"], "real", window["holdout"]) if window["champion"] else None
        real = scorer.scores(window["train"], "real", window["holdout"])
        variants = {}
        for variant in spec["variants"]:
            scores = scorer.scores(window["train"], variant, window["holdout"])
            found, base, against, every_slice = p.evaluation_figures(holdout, scores, baseline, champion, fewest)
            champion_name = span(window["champion"]) if window["champion"] else None

            def verdicts(rule, found=found, base=base, against=against, slices=every_slice, name=champion_name):
                gated = slices[slices["rows"] >= rule.min_slice_rows].reset_index(drop=True)
                return p.judge(rule, found, base, against, name, gated, (True, "not judged here"))

            outcomes = verdicts(config)
            variants[variant] = {
                "figures": {
                    **{k: found[k] for k in ("auc", "auc_se", "calibration_error", "calibration_se", "rows", "days")},
                    "positive_rate": found["positive_rate"],
                    "mean_probability": float(scores.mean()),
                    "baseline_auc": base["auc"],
                    "lift": base["lift"],
                    "lift_se": base["lift_se"],
                    "champion_auc": against["auc"] if against else None,
                    "champion_difference": against["difference"] if against else None,
                    "vs_real": p.auc_difference(holdout[p.LABEL].to_numpy(), scores, real)[0],
                },
                "gates": {
                    name: {"passed": bool(o.passed), "summary": o.summary, "metadata": o.metadata}
                    for name, o in outcomes.items()
                    if name in GATES
                },
                "rules": {
                    rule: {name: bool(o.passed) for name, o in verdicts(other).items() if name in GATES}
                    for rule, other in others.items()
                },
            }
        judged.append({**window, "variants": variants})
    return {"windows": judged, "fits": scorer.fits, "cached": scorer.cached, "gate_config": config.model_dump()}


# ---------------------------------------------------------------- the case


@contextmanager
def cache_dir(keep: bool) -> Iterator[Path]:
    """``CACHE``, or a scratch folder removed afterwards."""
    if keep:
        CACHE.mkdir(parents=True, exist_ok=True)
        yield CACHE
        return
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-gates-") as scratch:
        yield Path(scratch)


def _rate(verdicts: list[bool]) -> str:
    return f"{sum(verdicts)} of {len(verdicts)}" if verdicts else "–"


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):+.3f} ({min(values):+.3f} to {max(values):+.3f})"


def tables(judged: list[dict[str, Any]], variants: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """The pass-rate table, the real model's closest calls and its ``openclaw run`` windows, as rows and markdown."""
    from bench.runner import _table

    def verdicts(variant: str, gate: str | None, scheme: str | None = None) -> list[bool]:
        out = []
        for window in judged:
            if scheme and window["scheme"] != scheme:
                continue
            gates = window["variants"][variant]["gates"]
            if gate == "no_regression_vs_champion" and window["champion"] is None:
                continue  # nothing to regress against: passes without judging
            out.append(all(g["passed"] for g in gates.values()) if gate is None else gates[gate]["passed"])
        return out

    header = ["gate", *(VARIANTS[v] for v in variants)]
    rates = [[f"`{gate}`", *(_rate(verdicts(v, gate)) for v in variants)] for gate in GATES]
    rates.append(["every gate (deployable)", *(_rate(verdicts(v, None)) for v in variants)])
    for scheme in SCHEMES:
        if any(w["scheme"] == scheme for w in judged):
            rates.append([f"every gate, {scheme} windows", *(_rate(verdicts(v, None, scheme)) for v in variants)])
    deltas = ["holdout AUC minus the real model's, median (range)"]
    for v in variants:
        deltas.append("–" if v == "real" else _median_range([w["variants"][v]["figures"]["vs_real"] for w in judged]))
    rates.append(deltas)

    def where(window: dict[str, Any]) -> str:
        return f"{window['scheme']} {span(window['train'])} → {span(window['holdout'])}"

    closest = []
    margins = {
        "quality_floor": lambda m: min(m["auc"] - m["auc_floor"], m["baseline_lift"] - m["baseline_lift_floor"]),
        "no_regression_vs_champion": lambda m: m["difference"] + m["allowed_drop"],
        "slice_floor": lambda m: m["worst_slice_auc"] - m["worst_slice_floor"],
        "calibration": lambda m: m["ceiling"] - m["calibration_error"],
    }
    real = [w for w in judged if "real" in w["variants"]]
    for gate, margin in margins.items():
        scored = [
            (margin(w["variants"]["real"]["gates"][gate]["metadata"]), w)
            for w in real
            if gate != "no_regression_vs_champion" or w["champion"] is not None
        ]
        if not scored:
            continue
        _, window = min(scored, key=lambda pair: pair[0])
        closest.append([f"`{gate}`", where(window), window["variants"]["real"]["gates"][gate]["summary"]])

    runs = []
    for window in (w for w in real if w["scheme"] == "run"):
        figures, gates = window["variants"]["real"]["figures"], window["variants"]["real"]["gates"]
        quality, calibration = gates["quality_floor"]["metadata"], gates["calibration"]["metadata"]
        runs.append(
            [
                f"`2013-01:{window['holdout'][-1]}`",
                f"{span(window['train'])} → {span(window['holdout'])}",
                f"{int(figures['rows']):,} ({int(figures['days'])} days)",
                f"{figures['auc']:.3f} ≥ {quality['auc_floor']:.3f}",
                f"{figures['lift']:.3f} ≥ {quality['baseline_lift_floor']:.3f}",
                f"{figures['calibration_error']:.4f} ≤ {calibration['ceiling']:.4f}",
                ", ".join(g for g in GATES if not gates[g]["passed"]) or "all pass",
            ]
        )
    compared = []
    for rule in judged[0]["variants"]["real"]["rules"] if judged else []:
        cells = []
        for v in variants:
            passed = [all(w["variants"][v]["rules"][rule].values()) for w in judged]
            cells.append(_rate(passed))
        compared.append([rule, *cells])
    compared.append(["these defaults", *(_rate(verdicts(v, None)) for v in variants)])
    fixed = ", ".join(f"`{k}` {v}" for k, v in config.items())
    markdown = [
        f"Pass rates over {len(judged)} windows (`GateConfig`: {fixed}; `no_regression_vs_champion` counts the"
        " windows with a champion):",
        "",
        *_table(header, rates),
        "",
        "Windows passing every gate under other rules, on the same scores:",
        "",
        *_table(["rule", *(VARIANTS[v] for v in variants)], compared),
        "",
        "The real model's closest call at each gate:",
        "",
        *_table(["gate", "window", "figures"], closest),
    ]
    if runs:
        run_header = ["`openclaw run --months`", "trains → holds out", "holdout rows", "AUC", "gain", "ECE", "gates"]
        markdown += ["", "The real model on the windows `openclaw run` uses:", "", *_table(run_header, runs)]
    return {"rows": [header, *rates, *compared], "markdown": markdown}


def measure_gates(
    home: str | None = None,
    schemes: tuple[str, ...] = SCHEMES,
    last_month: int = 12,
    sliding_months: int = 3,
    variants: tuple[str, ...] = tuple(VARIANTS),
    trees: int | None = None,
    cache: bool = True,
    gates: dict[str, Any] | None = None,
    rules: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    unknown = [v for v in variants if v not in VARIANTS and not v.startswith("no_")]
    if unknown or "real" not in variants:
        raise BenchError(f"variants {list(variants)}: the real model and known variants ({', '.join(VARIANTS)})")
    training_set = needs(Path(home or default_home()), str(TRAINING_SET)) / TRAINING_SET
    judged_windows = windows(list(schemes), last_month, sliding_months)
    with cache_dir(cache) as folder:
        spec = {
            "training_set": str(training_set),
            "windows": judged_windows,
            "variants": list(variants),
            "trees": trees,
            "cache": str(folder),
            "gates": gates or {},
            "rules": RULES if rules is None else rules,
        }
        child = run_task("bench.gates:judge_windows", spec, timeout_s=6 * 3600)
    report = child.report
    real = [w["variants"]["real"]["gates"] for w in report["windows"]]
    failed_real = sum(not all(g["passed"] for g in gates.values()) for gates in real)
    built = tables(report["windows"], list(variants), report["gate_config"])
    notes = [
        f"{report['fits']} fits ({report['cached']} scores from the cache); the real model failed a gate on"
        f" {failed_real} of {len(real)} windows"
    ]
    return {**built, "notes": notes, "windows": report["windows"], "gate_config": report["gate_config"]}


CASES = [
    Case(
        "gates",
        "Model gates",
        "`model_evaluation`'s gates (`judge` under `GateConfig`) on the real model, fit with `TrainConfig`'s defaults"
        " on expanding, 3-month sliding and `openclaw run` windows of 2013, figures from `evaluation_figures`",
        "degraded models on the same windows: training labels shuffled; `weather_hourly`, `carrier_stats` or"
        " `tail_recent` dropped; delays weighted 3x",
        "pass rate per gate and model; each window's figures, thresholds and standard errors",
        "– (the real model should pass every window, a degraded one should be stopped)",
        measure_gates,
        full={
            "home": None,
            "schemes": list(SCHEMES),
            "last_month": 12,
            "sliding_months": 3,
            "variants": list(VARIANTS),
            "trees": None,
            "cache": True,
            "gates": {},
        },
        quick={"schemes": ["run"], "last_month": 4, "variants": ["real", "shuffled"], "trees": 40},
        libraries=("lightgbm", "scikit-learn", "scipy"),
        minutes="45 to 60 with a cold cache (178 fits), 4 from the cache",
        block="gates",
    ),
]
