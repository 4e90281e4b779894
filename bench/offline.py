"""Benchmark: the whole offline pipeline, seconds and peak memory per stage.

Usage (from the repository root)::

    .venv/bin/python bench/offline.py --synthetic ml-20m [--json bench/out/offline-ml20m.json]
    .venv/bin/python bench/offline.py --data ../shared/data/ml-latest-small

``--synthetic NAME`` generates a synthetic MovieLens of that size once (in a child process,
so its memory is not counted) into ``--cache`` (default ``bench/out/synth``, git-ignored)
and reuses it afterwards; its generation time is reported apart from the pipeline.
The pipeline (``offline.pipeline.run_pipeline``) runs in this process into a temporary
artifacts folder. Prints one row per stage (wall and CPU seconds, share, rows in/out, peak
RSS so far and within the stage), the total, ALS's share and the check against the targets:
total under 5 minutes, peak under 8 GB, the stages other than training under a quarter, that
last one counted both with ALS alone as training and with every stage that fits a model (ALS,
the baselines, the item-neighbour rows) as training.
CPU seconds count every thread; with the load average they tell contention from work.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PRESETS: dict[str, dict[str, int]] = {
    "ml-20m": {"n_users": 138_493, "n_movies": 27_278, "n_ratings": 20_000_263},
    "ml-1m": {"n_users": 6_040, "n_movies": 3_706, "n_ratings": 1_000_209},
    "ml-100k": {"n_users": 943, "n_movies": 1_682, "n_ratings": 100_000},
}
SYNTH_SEED = 20
TARGET_SECONDS = 300.0
TARGET_PEAK_MIB = 8e9 / 2**20  # 8 GB = 7629 MiB
TARGET_OTHER_SHARE = 0.25
MARKER = "generated.json"


def _generate(out: Path, preset: str, fmt: str) -> None:
    """Child process: write the data set, then the marker with seconds and peak RSS."""
    from offline.data.synth import generate
    from offline.stages import peak_rss_mb

    t0 = time.perf_counter()
    summary = generate(out, **PRESETS[preset], seed=SYNTH_SEED, fmt=fmt)  # type: ignore[arg-type]
    record = {
        "preset": preset, **PRESETS[preset], "seed": SYNTH_SEED, "format": fmt,
        "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mib": round(peak_rss_mb()),
        "ratings_mib": round(summary.ratings_path.stat().st_size / 2**20, 1),
    }
    (out / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def synthetic_data(preset: str, cache: Path, fmt: str) -> tuple[Path, dict[str, Any]]:
    """The cached synthetic data set (generated first if absent) and its generation record."""
    out = cache / f"{preset}-seed{SYNTH_SEED}-{fmt}"
    marker = out / MARKER
    if not marker.is_file():
        logging.info("generating synthetic %s into %s (once)", preset, out)
        cmd = [sys.executable, __file__, "--generate-into", str(out), "--synthetic", preset, "--format", fmt]
        subprocess.run(cmd, check=True)
    record = json.loads(marker.read_text())
    record["cached"] = True
    return out, record


def stage_table(stages: list[dict[str, Any]], wall: float) -> str:
    """Fixed-width text table of the stage records, with a total row."""
    head = (f"{'stage':<12}{'seconds':>9}{'cpu s':>8}{'share':>7}{'rows in':>12}{'rows out':>12}"
            f"{'peak MiB':>10}{'stage MiB':>10}  note")
    lines = [head, "-" * len(head)]
    for s in stages:
        lines.append(
            f"{s['name']:<12}{s['seconds']:>9.2f}{s.get('cpu_seconds', float('nan')):>8.1f}{s['seconds'] / wall:>7.1%}"
            f"{s['rows_in']:>12,}{s['rows_out']:>12,}{s['peak_rss_mb']:>10.0f}"
            f"{s.get('stage_peak_rss_mb', s['peak_rss_mb']):>10.0f}  {s.get('note', '')}"
        )
    staged = sum(s["seconds"] for s in stages)
    peak = max(s["peak_rss_mb"] for s in stages)
    total = f"{'total':<12}{wall:>9.2f}{'':>8}{1:>7.0%}{'':>24}{peak:>10.0f}  (stages sum {staged:.2f} s)"
    lines += ["-" * len(head), total]
    return "\n".join(lines)


FITTING_STAGES = ("train_als", "baselines", "neighbours")
"""The stages that train a model: ALS, the baselines (popularity, content, SVD) and the
item-neighbour rows of the online overlay."""


def check_targets(stages: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """The three targets: total seconds, peak memory, and the share of the stages other than
    training, counted two ways: everything but ALS (this bench's reading until issue 10 added
    a second trained model), and everything but the stages that fit a model (``FITTING_STAGES``)."""
    als = sum(s["seconds"] for s in stages if s["name"] == "train_als")
    fitting = sum(s["seconds"] for s in stages if s["name"] in FITTING_STAGES)
    peak = max(s["peak_rss_mb"] for s in stages)
    other_share = (wall - als) / wall if wall > 0 else 0.0
    unfitted_share = (wall - fitting) / wall if wall > 0 else 0.0
    return {
        "total_seconds": round(wall, 2), "als_seconds": round(als, 2), "als_share": round(als / wall, 4),
        "other_seconds": round(wall - als, 2), "other_share": round(other_share, 4), "peak_rss_mib": round(peak),
        "fitting_seconds": round(fitting, 2), "not_fitting_seconds": round(wall - fitting, 2),
        "not_fitting_share": round(unfitted_share, 4),
        "total_ok": wall < TARGET_SECONDS, "peak_ok": peak < TARGET_PEAK_MIB,
        "other_share_ok": other_share < TARGET_OTHER_SHARE,
        "not_fitting_share_ok": unfitted_share < TARGET_OTHER_SHARE,
    }


def metric_summary(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The headline figures per split: NDCG@10 of the ranking models, RMSE of the rating ones."""
    out: dict[str, dict[str, float]] = {}
    for split, models in metrics.items():
        row = {f"{m}.ndcg@10": round(v["ndcg@10"], 5) for m, v in models.items() if "ndcg@10" in v}
        row.update({f"{m}.rmse": round(v["rmse"], 5) for m, v in models.items() if "rmse" in v})
        row["n_users"] = int(models["als"]["n_users"])
        out[split] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--synthetic", choices=sorted(PRESETS), help="generated data set of this size")
    src.add_argument("--data", type=Path, help="a MovieLens folder or ratings file")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "synth", help="synthetic data cache")
    parser.add_argument("--format", choices=("csv", "parquet"), default="parquet", help="synthetic ratings file")
    parser.add_argument("--config", type=Path, help="pipeline config (JSON or TOML); defaults otherwise")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--artifacts", type=Path, help="keep the artifact here (default: a temporary folder)")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.generate_into:
        _generate(args.generate_into, args.synthetic, args.format)
        return

    generation = None
    data = args.data
    if args.synthetic:
        data, generation = synthetic_data(args.synthetic, args.cache, args.format)
        print(f"synthetic {args.synthetic}: {data} (generated in {generation['seconds']} s, "
              f"peak {generation['peak_rss_mib']} MiB; not part of the pipeline)", flush=True)

    from offline.config import PipelineConfig
    from offline.pipeline import run_pipeline

    config = PipelineConfig.from_file(args.config)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="movierec-bench-") as tmp:
        t0 = time.perf_counter()
        result = run_pipeline(Path(data), args.artifacts or Path(tmp), config, show_progress=False)
        wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    stages = result.stages
    targets = check_targets(stages, wall)
    print(stage_table(stages, wall))
    print(f"ALS training {targets['als_seconds']:.1f} s = {targets['als_share']:.1%} of the total; "
          f"other stages {targets['other_seconds']:.1f} s = {targets['other_share']:.1%}")
    verdict = {True: "OK", False: "MISSED"}
    print(f"targets: total {wall:.1f} s < {TARGET_SECONDS:.0f} s: {verdict[targets['total_ok']]}; "
          f"peak {targets['peak_rss_mib']} MiB < {TARGET_PEAK_MIB:.0f} MiB: {verdict[targets['peak_ok']]}; "
          f"non-ALS share < {TARGET_OTHER_SHARE:.0%}: {verdict[targets['other_share_ok']]}; "
          f"share of the stages that fit no model ({targets['not_fitting_seconds']:.1f} s = "
          f"{targets['not_fitting_share']:.1%}) < {TARGET_OTHER_SHARE:.0%}: {verdict[targets['not_fitting_share_ok']]}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}: other processes share "
          f"the {os.cpu_count()} cores when it is above ~2 (compare wall and CPU seconds)")
    summary = metric_summary(result.metrics)
    for split, row in summary.items():
        print(f"{split}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "data": str(data), "generation": generation, "wall_seconds": round(wall, 3), "targets": targets,
            "stages": stages, "metrics": summary, "counts": result.info["counts"],
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_before": load_before, "load_after": load_after},
            "libraries": result.info["libraries"],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
