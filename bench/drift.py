"""Drift statistics: `monitoring.drift.compare` on a wide frame, against Evidently's data drift preset.

Usage:
    .venv/bin/python bench/drift.py [--reference-rows 100000] [--current-rows 1000000] [--repeat 3]
    .venv/bin/python bench/drift.py --quick            # smoke run: 5,000 / 20,000 rows, one repeat
    .venv/bin/python bench/drift.py --skip-evidently   # ours only

The frames: a reference of --reference-rows rows and a current one of --current-rows rows, made with a
fixed numpy seed (--seed), each with 20 float64 columns (normal, log-normal, exponential, uniform, gamma,
beta, Student t, bimodal mixtures, Poisson counts, a 5-level rating, prices; about half of them shifted
in current, the others drawn alike; NaNs in several, one whose null share grows) and 5 string columns of
3 to 20 categories (two with the same shares on both sides, two with changed shares, one with a
category the reference never saw; nulls in one). The same frames go to both sides.

Ours: `compare(reference, current)` with its default methods (reference > 1,000 non-null values:
normalised Wasserstein for numbers, Jensen–Shannon for categories), in a child process of our venv that
builds the frames itself: wall time, best of --repeat; then `compare(..., all_methods=True)` (every
method of each kind per column) once; then each column alone (`feature_drift`, default method and all
methods) to show where the time goes by kind of column. Peak memory is the child's high-water RSS
(`getrusage(RUSAGE_SELF).ru_maxrss`): after the frames are built the script reads the RSS, resets the
high-water mark (writing 5 to /proc/self/clear_refs), runs the measurement and reads the mark again.
It prints the absolute peak (frames, interpreter and libraries included: the figure the target is held
to) and the increase over the RSS with the frames built (what `compare` itself adds).

Theirs: Evidently 0.7 (`Report([DataDriftPreset()]).run(current_data=..., reference_data=...)`) in its
own virtual environment (EVIDENTLY_VENV, default /tmp/evidently-venv; created with `evidently==0.7.*`,
`pandas<3` and pyarrow when missing), on the same frames passed as parquet files in a temporary
directory. Its columns are declared (`DataDefinition`: the 20 numeric, the 5 categorical) so it infers
nothing. Before the clock starts the script asks Evidently's own chooser which method its preset would
take per column; where that differs from ours the preset is given our method for that column
(`per_column_method`), so both sides compute the same thing, and the difference is printed. Timed:
`Dataset.from_pandas` for both frames plus `Report.run`, once (--evidently-repeat). Then the per-column
scores are set side by side with ours: the largest absolute difference among the columns where both
used the same method, and which.

Targets (issue): `compare` on 100,000 × 1,000,000 rows of 25 columns ≤ 5 s and ≤ 2 GB peak on this
2-core machine; ours at least 10× faster than Evidently's preset on the same frames.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIME_TARGET_S = 5.0
MEMORY_TARGET_MB = 2048.0
SPEEDUP_TARGET = 10.0
EVIDENTLY_SPEC = "evidently==0.7.*"

# ---------------------------------------------------------------------------------------------------
# The frames
# ---------------------------------------------------------------------------------------------------


def _mixture(rng, n, weight, left=(-2.0, 0.7), right=(3.0, 1.0)):
    pick = rng.random(n) < weight
    return np.where(pick, rng.normal(*left, n), rng.normal(*right, n))


# name: (what it is, how it changes in current, draw(rng, n, current) -> float64 array)
NUMERIC = {
    "num_00": ("normal(0, 1)", "same", lambda r, n, c: r.normal(0, 1, n)),
    "num_01": ("normal(50, 10)", "mean +2 (0.2 sd)", lambda r, n, c: r.normal(52 if c else 50, 10, n)),
    "num_02": ("log-normal(0, 0.75)", "same", lambda r, n, c: r.lognormal(0, 0.75, n)),
    "num_03": ("log-normal(0, 0.75)", "scale ×1.3", lambda r, n, c: r.lognormal(0, 0.75, n) * (1.3 if c else 1)),
    "num_04": ("exponential(1)", "same", lambda r, n, c: r.exponential(1, n)),
    "num_05": ("exponential(1)", "scale ×1.5", lambda r, n, c: r.exponential(1.5 if c else 1, n)),
    "num_06": ("uniform(0, 100)", "same", lambda r, n, c: r.uniform(0, 100, n)),
    "num_07": ("uniform(0, 100)", "moved +10", lambda r, n, c: r.uniform(10, 110, n) if c else r.uniform(0, 100, n)),
    "num_08": ("gamma(2, 2)", "same", lambda r, n, c: r.gamma(2, 2, n)),
    "num_09": ("beta(2, 5)", "same", lambda r, n, c: r.beta(2, 5, n)),
    "num_10": ("beta(2, 5)", "beta(2.6, 5)", lambda r, n, c: r.beta(2.6 if c else 2, 5, n)),
    "num_11": ("Student t(3)", "same", lambda r, n, c: r.standard_t(3, n)),
    "num_12": ("Student t(3)", "scale ×1.5", lambda r, n, c: r.standard_t(3, n) * (1.5 if c else 1)),
    "num_13": ("bimodal 40/60", "same", lambda r, n, c: _mixture(r, n, 0.4)),
    "num_14": ("bimodal 40/60", "weights 55/45", lambda r, n, c: _mixture(r, n, 0.55 if c else 0.4)),
    "num_15": ("Poisson(3) counts", "same", lambda r, n, c: r.poisson(3, n).astype(float)),
    "num_16": ("Poisson(3) counts", "Poisson(3.6)", lambda r, n, c: r.poisson(3.6 if c else 3, n).astype(float)),
    "num_17": (
        "rating 1–5",
        "shares moved up",
        lambda r, n, c: r.choice(
            np.arange(1.0, 6.0), n, p=[0.05, 0.1, 0.25, 0.35, 0.25] if c else [0.1, 0.15, 0.3, 0.3, 0.15]
        ),
    ),
    "num_18": ("prices, log-normal ×1e4, cents", "same", lambda r, n, c: np.round(r.lognormal(0, 1, n) * 1e4, 2)),
    "num_19": ("normal(1000, 1)", "mean +0.05 (tiny)", lambda r, n, c: r.normal(1000.05 if c else 1000, 1, n)),
}
# share of NaN, reference and current
NUMERIC_NULLS = {"num_00": (0.01, 0.01), "num_03": (0.02, 0.02), "num_07": (0.005, 0.005), "num_12": (0.01, 0.3)}


def _zipf(k: int, s: float = 1.1) -> np.ndarray:
    weights = 1 / np.arange(1, k + 1) ** s
    return weights / weights.sum()


def _categorical_spec() -> dict:
    """name: (categories, reference shares, current categories, current shares, how it changes)"""
    spec = {}
    c0 = [f"c0_{k}" for k in range(3)]
    spec["cat_0"] = (c0, [0.5, 0.3, 0.2], c0, [0.5, 0.3, 0.2], "same")
    c1 = [f"c1_{k}" for k in range(5)]
    spec["cat_1"] = (c1, [0.4, 0.25, 0.15, 0.12, 0.08], c1, [0.2, 0.25, 0.2, 0.15, 0.2], "shares changed")
    c2 = [f"c2_{k}" for k in range(8)]
    spec["cat_2"] = (c2, _zipf(8), c2, _zipf(8), "same (2% null)")
    c3 = [f"c3_{k}" for k in range(12)]
    spec["cat_3"] = (c3, _zipf(12), c3, _zipf(12, 0.9), "shares slightly flatter")
    c4 = [f"c4_{k:02d}" for k in range(20)]
    shares4 = _zipf(20, 0.8)
    spec["cat_4"] = (c4, shares4, [*c4, "c4_unseen"], [*(shares4 * 0.9), 0.1], "unseen category at 10%")
    return spec


CATEGORICAL = _categorical_spec()
CATEGORICAL_NULLS = {"cat_2": 0.02}


def make_frames(reference_rows: int, current_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for rows, current in ((reference_rows, False), (current_rows, True)):
        columns: dict[str, object] = {}
        for name, (_, _, draw) in NUMERIC.items():
            values = np.asarray(draw(rng, rows, current), dtype=np.float64)
            if name in NUMERIC_NULLS:
                values[rng.random(rows) < NUMERIC_NULLS[name][int(current)]] = np.nan
            columns[name] = values
        for name, (ref_cats, ref_p, cur_cats, cur_p, _) in CATEGORICAL.items():
            cats, shares = (cur_cats, cur_p) if current else (ref_cats, ref_p)
            values = np.array(cats, dtype=object)[rng.choice(len(cats), rows, p=np.asarray(shares) / np.sum(shares))]
            if name in CATEGORICAL_NULLS:
                values[rng.random(rows) < CATEGORICAL_NULLS[name]] = None
            columns[name] = values
        frames.append(pd.DataFrame(columns))
    return frames[0], frames[1]


# ---------------------------------------------------------------------------------------------------
# Ours (child process of our venv)
# ---------------------------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def reset_peak() -> bool:
    """Lower the high-water RSS to the current RSS (Linux ≥ 4.0); False when it cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return peak_mb() <= rss_mb() + 16


def child_ours(config: dict) -> dict:
    from monitoring import drift

    began = time.perf_counter()
    reference, current = make_frames(config["reference_rows"], config["current_rows"], config["seed"])
    built_s = time.perf_counter() - began
    gc.collect()
    out: dict = {"build_s": built_s, "build_peak_mb": peak_mb(), "baseline_mb": rss_mb()}

    out["reset"] = reset_peak()
    times = []
    for _ in range(config["repeat"]):
        began = time.perf_counter()
        result = drift.compare(reference, current)
        times.append(time.perf_counter() - began)
    out["times"], out["peak_mb"] = times, peak_mb()
    out["features"] = [f.as_dict() for f in result.features]
    out["dataset"] = {k: v for k, v in result.as_dict().items() if k != "features"}
    del result
    gc.collect()

    baseline_all = rss_mb()
    out["reset_all"] = reset_peak()
    began = time.perf_counter()
    everything = drift.compare(reference, current, all_methods=True)
    out["all_s"], out["all_peak_mb"], out["all_baseline_mb"] = time.perf_counter() - began, peak_mb(), baseline_all
    out["all_statistics"] = {f.feature: f.statistics for f in everything.features}
    del everything

    per_column = {}
    for name in reference.columns:
        kind = drift.kind_of(reference[name].dropna())
        began = time.perf_counter()
        drift.feature_drift(reference[name], current[name], name=name, kind=kind)
        default_s = time.perf_counter() - began
        allowed = drift.NUMERIC_METHODS if kind == drift.NUMERIC else drift.CATEGORICAL_METHODS
        began = time.perf_counter()
        drift.feature_drift(reference[name], current[name], name=name, kind=kind, methods=allowed)
        per_column[name] = {"kind": kind, "default_s": default_s, "all_s": time.perf_counter() - began}
    out["per_column"] = per_column
    out["dtypes"] = sorted({str(t) for t in reference.dtypes})
    out["versions"] = {"pandas": pd.__version__, "numpy": np.__version__, "scipy": __import__("scipy").__version__}

    if config.get("parquet"):  # after the measurement: the frames for Evidently
        target = Path(config["parquet"])
        reference.to_parquet(target / "reference.parquet", index=False)
        current.to_parquet(target / "current.parquet", index=False)
    return out


def ours(args, work: Path | None) -> dict:
    config = {
        "reference_rows": args.reference_rows,
        "current_rows": args.current_rows,
        "seed": args.seed,
        "repeat": args.repeat,
        "parquet": str(work) if work else None,
    }
    run = subprocess.run(
        [sys.executable, __file__, "--child-ours", json.dumps(config)], cwd=ROOT, capture_output=True, text=True
    )
    if run.returncode:
        raise SystemExit(f"our child process failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------
# Evidently (child process of its venv)
# ---------------------------------------------------------------------------------------------------

# Run under Evidently's venv: read the parquet files, ask its chooser per column, time the preset.
EVIDENTLY = r"""
import gc, json, resource, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, scipy
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from evidently.legacy.calculations.stattests import registry
from evidently.legacy.core import ColumnType

cfg = json.loads(sys.argv[1])
work = Path(cfg["work"])

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

reference = pd.read_parquet(work / "reference.parquet")
current = pd.read_parquet(work / "current.parquet")
numeric, categorical = cfg["numeric"], cfg["categorical"]
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
names = {test.display_name: name for name, by_type in registry._registered_stat_tests.items() for test in by_type.values()}

# What the preset would choose by itself, with its own cleaning (inf -> NaN, dropna), outside the clock.
defaults = {}
for column in numeric + categorical:
    kind = ColumnType.Numerical if column in numeric else ColumnType.Categorical
    ref = reference[column].replace([-np.inf, np.inf], np.nan).dropna()
    cur = current[column].replace([-np.inf, np.inf], np.nan).dropna()
    defaults[column] = registry._get_default_stattest(ref, cur, kind).name
forced = {c: m for c, m in cfg["ours"].items() if defaults.get(c) != m}

gc.collect()
baseline = rss_mb()
try:
    Path("/proc/self/clear_refs").write_text("5")
except OSError:
    pass
runs = []
for _ in range(cfg["repeat"]):
    began = time.perf_counter()
    ref_ds = Dataset.from_pandas(reference, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)
    wrapped = time.perf_counter()
    snapshot = Report([DataDriftPreset(per_column_method=forced or None)]).run(current_data=cur_ds, reference_data=ref_ds)
    finished = time.perf_counter()
    runs.append({"total_s": finished - began, "datasets_s": wrapped - began, "run_s": finished - wrapped})
peak = peak_mb()

columns, dataset = {}, None
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if config["type"].endswith(":ValueDrift"):
        columns[config["column"]] = {
            "method": names.get(config["method"], config["method"]),
            "score": metric["value"],
            "threshold": config["threshold"],
        }
    elif config["type"].endswith(":DriftedColumnsCount"):
        dataset = metric["value"]
print(json.dumps({
    "runs": runs, "peak_mb": peak, "baseline_mb": baseline, "defaults": defaults, "forced": forced,
    "columns": columns, "dataset": dataset,
    "versions": {"evidently": evidently.__version__, "pandas": pd.__version__, "numpy": np.__version__,
                 "scipy": scipy.__version__},
}))
"""


def evidently_venv() -> tuple[Path, float | None]:
    """Evidently 0.7 in its own venv (installed once, then reused); returns it and the install seconds."""
    venv = Path(os.environ.get("EVIDENTLY_VENV", "/tmp/evidently-venv"))
    python = venv / "bin" / "python"
    probe = "import evidently, pandas, pyarrow; print(evidently.__version__, pandas.__version__)"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True) if python.exists() else None
    versions = found.stdout.split() if found and not found.returncode else []
    if len(versions) == 2 and versions[0].startswith("0.7.") and int(versions[1].split(".")[0]) < 3:
        return venv, None
    print(f"installing {EVIDENTLY_SPEC}, pandas<3, pyarrow into {venv} …", flush=True)
    began = time.perf_counter()
    if not python.exists():
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", EVIDENTLY_SPEC, "pandas<3", "pyarrow"], capture_output=True, text=True
    )
    if install.returncode:
        raise SystemExit(f"pip install into {venv} failed:\n{install.stderr[-3000:]}")
    return venv, time.perf_counter() - began


def theirs(args, work: Path, methods: dict[str, str]) -> dict:
    venv, installed_s = evidently_venv()
    config = {
        "work": str(work),
        "numeric": list(NUMERIC),
        "categorical": list(CATEGORICAL),
        "ours": methods,
        "repeat": args.evidently_repeat,
    }
    run = subprocess.run(
        [venv / "bin" / "python", "-c", EVIDENTLY, json.dumps(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},  # no telemetry (only its UI sends any; to be sure)
    )
    if run.returncode:
        raise SystemExit(f"the Evidently child process failed:\n{run.stderr[-4000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["installed_s"] = installed_s
    return result


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------

TESTS = {"ks", "chisquare", "z"}  # Evidently's score for these is the p-value

# What Evidently 0.7 computes, from evidently/legacy/calculations/stattests/ (each column first has ±inf
# turned to NaN and NaN dropped, in legacy/calculations/data_drift.py get_one_column_drift, as ours are).
EVIDENTLY_FORMULAS = {
    "wasserstein": "Evidently (wasserstein_distance_norm.py) takes scipy.stats.wasserstein_distance(ref, cur) / "
    "max(np.std(ref), 0.001), np.std with ddof 0: our formula and floor",
    "jensenshannon": "Evidently (jensenshannon.py, utils.get_binned_data with feel_zeroes=False) takes, for a "
    "category column, counts / len(column) over the union of both sides' non-null values, no floor, "
    "scipy.spatial.distance.jensenshannon with natural log: ours (a category only current has is a 0 share "
    "in the reference on both sides); for a numeric column it bins differently (Sturges equal-width bins "
    "over reference + current, one bin per value when the reference has ≤ 20 distinct values; ours: 10 "
    "reference-quantile bins)",
    "ks": "Evidently (ks_stattest.py) takes the p-value of scipy.stats.ks_2samp: ours; it calls drift at p ≤ "
    "threshold, we at p < threshold",
    "chisquare": "Evidently (chisquare_stattest.py) expects reference counts × current/reference size with no "
    "floor (a category unseen in the reference expects 0); ours floors the reference shares at 1e-4",
}


def ours_score(feature: dict) -> float | None:
    return feature["p_value"] if feature["method"] in TESTS else feature["statistic"]


def fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def print_columns(mine: dict, their: dict | None) -> tuple[float, str] | None:
    header = f"{'column':<7} {'data':<31} {'current':<24} | {'ours':<13} {'score':>8} {'drift':>5}"
    if their:
        header += f" | {'Evidently':<13} {'score':>8} {'drift':>5} {'|diff|':>9}"
    print(header)
    print("-" * len(header))
    worst: tuple[float, str] | None = None
    specs = {
        **{k: v[:2] for k, v in NUMERIC.items()},
        **{k: (f"{len(v[0])} categories", v[4]) for k, v in CATEGORICAL.items()},
    }
    for feature in mine["features"]:
        name = feature["feature"]
        what, change = specs[name]
        score = ours_score(feature)
        line = f"{name:<7} {what[:31]:<31} {change[:24]:<24} | {feature['method']:<13} {fmt(score):>8} {'yes' if feature['drifted'] else 'no':>5}"
        other = (their or {}).get("columns", {}).get(name)
        if other:
            method, value = other["method"], other["score"]
            drifted = value < other["threshold"] if method in TESTS else value >= other["threshold"]
            diff = abs(value - score) if method == feature["method"] and score is not None else None
            if diff is not None and (worst is None or diff > worst[0]):
                worst = (diff, f"{name} ({method}: ours {score:.6g}, Evidently {value:.6g})")
            line += f" | {method:<13} {fmt(value):>8} {'yes' if drifted else 'no':>5} {fmt(diff, 2) if diff is None else f'{diff:9.1e}'}"
        print(line)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of compare(); the best is reported")
    parser.add_argument("--evidently-repeat", type=int, default=1, help="runs of Evidently's preset; the best")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 and 20,000 rows, one repeat")
    parser.add_argument("--child-ours", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ours:
        print(json.dumps(child_ours(json.loads(args.child_ours))))
        return
    if args.quick:
        args.reference_rows, args.current_rows, args.repeat = 5_000, 20_000, 1
    command = shlex.join([sys.executable, *sys.argv])
    load = os.getloadavg()

    work = None if args.skip_evidently else Path(tempfile.mkdtemp(prefix="bench-drift-"))
    try:
        columns = len(NUMERIC) + len(CATEGORICAL)
        print(
            f"frames  reference {args.reference_rows:,} rows, current {args.current_rows:,} rows × {columns} columns "
            f"({len(NUMERIC)} float64, {len(CATEGORICAL)} strings), seed {args.seed}; load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
            flush=True,
        )
        mine = ours(args, work)
        best = min(mine["times"])
        print(
            f"ours    frames built in the child in {mine['build_s']:.1f} s (pandas {mine['versions']['pandas']}, "
            f"numpy {mine['versions']['numpy']}, scipy {mine['versions']['scipy']}; dtypes {', '.join(mine['dtypes'])})"
        )
        print(
            f"ours    compare(), default methods: best {best:.2f} s of {len(mine['times'])} "
            f"({', '.join(f'{t:.2f}' for t in mine['times'])})",
            flush=True,
        )
        by_kind: dict[str, list[dict]] = {}
        for stats in mine["per_column"].values():
            by_kind.setdefault(stats["kind"], []).append(stats)
        for kind, rows in by_kind.items():
            slowest = max(
                ((name, stats) for name, stats in mine["per_column"].items() if stats["kind"] == kind),
                key=lambda item: item[1]["default_s"],
            )
            print(
                f"ours    per {kind} column ({len(rows)}): default method {sum(r['default_s'] for r in rows) / len(rows) * 1000:.0f} ms "
                f"on average (slowest {slowest[0]} {slowest[1]['default_s'] * 1000:.0f} ms, "
                f"{sum(r['default_s'] for r in rows):.2f} s in all); every method "
                f"{sum(r['all_s'] for r in rows) / len(rows) * 1000:.0f} ms on average ({sum(r['all_s'] for r in rows):.2f} s in all)"
            )
        print(f"ours    compare(all_methods=True): {mine['all_s']:.2f} s (one run)")
        if not mine["reset"]:
            print("NOTE    the high-water RSS could not be reset: the peaks below include building the frames")
        increase = mine["peak_mb"] - mine["baseline_mb"]
        increase_all = mine["all_peak_mb"] - mine["all_baseline_mb"]
        print(
            f"ours    memory: {mine['baseline_mb']:.0f} MB RSS with the frames built (building peaked at "
            f"{mine['build_peak_mb']:.0f} MB); compare() peak {mine['peak_mb']:.0f} MB absolute, +{increase:.0f} MB; "
            f"all_methods peak {mine['all_peak_mb']:.0f} MB absolute, +{increase_all:.0f} MB"
        )

        their = None
        if not args.skip_evidently:
            ours_methods = {f["feature"]: f["method"] for f in mine["features"] if f["method"]}
            their = theirs(args, work, ours_methods)
            if their["installed_s"] is not None:
                print(f"theirs  installed Evidently in {their['installed_s']:.0f} s")
            run = min(their["runs"], key=lambda r: r["total_s"])
            versions = their["versions"]
            print(
                f"theirs  Evidently {versions['evidently']} (pandas {versions['pandas']}, numpy {versions['numpy']}, "
                f"scipy {versions['scipy']}): Dataset.from_pandas ×2 + Report([DataDriftPreset()]).run "
                f"{run['total_s']:.2f} s ({run['datasets_s']:.2f} s + {run['run_s']:.2f} s), best of {len(their['runs'])}; "
                f"peak {their['peak_mb']:.0f} MB absolute, +{their['peak_mb'] - their['baseline_mb']:.0f} MB over the "
                f"frames read from parquet"
            )
            differ = {c: (m, ours_methods.get(c)) for c, m in their["defaults"].items() if m != ours_methods.get(c)}
            if differ:
                listed = ", ".join(f"{c} (Evidently {m}, ours {o})" for c, (m, o) in differ.items())
                print(f"theirs  the preset's own choice differs from ours on {listed}: given ours per column")
            else:
                print("theirs  the preset's own choice of method is ours on every column")

        print()
        worst = print_columns(mine, their)
        summary = mine["dataset"]
        print(
            f"dataset ours: {summary['drifted_count']} of {summary['compared']} columns drifted "
            f"(share {summary['share']:.2f}, drifted: {'yes' if summary['drifted'] else 'no'})"
            + (
                f"; Evidently: {their['dataset']['count']:.0f} (share {their['dataset']['share']:.2f})"
                if their and their["dataset"]
                else ""
            )
        )

        print("\n=== results ===")
        print(f"command {command}")
        print(
            f"ours    compare() {best:.2f} s   target ≤ {TIME_TARGET_S:.0f} s: {'met' if best <= TIME_TARGET_S else 'MISSED'}"
        )
        print(
            f"ours    peak {mine['peak_mb']:.0f} MB absolute (+{increase:.0f} MB over the frames)   target ≤ "
            f"{MEMORY_TARGET_MB:.0f} MB: {'met' if mine['peak_mb'] <= MEMORY_TARGET_MB else 'MISSED'}"
        )
        print(f"ours    compare(all_methods=True) {mine['all_s']:.2f} s, peak {mine['all_peak_mb']:.0f} MB")
        if their:
            total = min(r["total_s"] for r in their["runs"])
            ratio = total / best
            print(
                f"theirs  Evidently {total:.2f} s; Evidently / ours {ratio:.1f}×   target ≥ {SPEEDUP_TARGET:.0f}×: "
                f"{'met' if ratio >= SPEEDUP_TARGET else 'MISSED'}"
            )
            if worst:
                print(f"check   largest |Evidently − ours| on a shared method: {worst[0]:.2e}, {worst[1]}")
                shared = sorted(
                    {
                        their["columns"][f["feature"]]["method"]
                        for f in mine["features"]
                        if f["feature"] in their["columns"]
                    }
                )
                verdict = "rounding only" if worst[0] <= 1e-9 else "MORE THAN ROUNDING"
                for method in shared:
                    print(f"why     ({verdict}) {method}: {EVIDENTLY_FORMULAS.get(method, 'see its stattests module')}")
            else:
                print("check   no column where both used the same method")
        end = os.getloadavg()
        print(f"machine load average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f} ({os.cpu_count()} cores)")
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
