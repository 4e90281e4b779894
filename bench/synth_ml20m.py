"""Benchmark: generate ML-20M-sized synthetic data, then load it back.

Usage (from the repository root)::

    .venv/bin/python bench/synth_ml20m.py /tmp/ml20m [--format csv|parquet] [--keep]

Each phase runs in its own child process so that its peak resident memory
(``ru_maxrss``) is its own. Prints seconds and peak RSS per phase; deletes the
directory afterwards unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ML20M = {"n_users": 138_493, "n_movies": 27_278, "n_ratings": 20_000_263}


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase_synth(out: Path, fmt: str) -> dict[str, float | int | str]:
    from offline.data.synth import generate

    start = time.perf_counter()
    summary = generate(out, **ML20M, seed=20, fmt=fmt)  # type: ignore[arg-type]
    return {
        "phase": "synth", "seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": round(_peak_rss_mib()),
        "rows": summary.n_ratings, "mean_rating": round(summary.mean_rating, 4),
        "file_mib": round(summary.ratings_path.stat().st_size / 2**20),
    }


def _phase_load(out: Path) -> dict[str, float | int | str]:
    from offline.data.loaders import load_dataset

    baseline = _peak_rss_mib()
    start = time.perf_counter()
    dataset = load_dataset(out)
    return {
        "phase": "load", "seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": round(_peak_rss_mib()),
        "baseline_rss_mib": round(baseline), "rows": len(dataset.ratings), "layout": dataset.layout,
        "dropped": dataset.ratings_report.rows_dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write into (created; deleted after unless --keep)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--phase", choices=("synth", "load"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "synth":
        print(json.dumps(_phase_synth(args.out, args.format)))
        return
    if args.phase == "load":
        print(json.dumps(_phase_load(args.out)))
        return

    results = []
    try:
        for phase in ("synth", "load"):
            cmd = [sys.executable, __file__, str(args.out), "--format", args.format, "--phase", phase]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if not args.keep and args.out.exists():
            shutil.rmtree(args.out)
    synth, load = results
    print(f"synth: {synth['rows']:,} ratings ({synth['file_mib']} MiB {args.format}) in {synth['seconds']} s, "
          f"peak RSS {synth['peak_rss_mib']} MiB")
    print(f"load:  {load['rows']:,} ratings in {load['seconds']} s, peak RSS {load['peak_rss_mib']} MiB "
          f"(interpreter + imports {load['baseline_rss_mib']} MiB)")


if __name__ == "__main__":
    main()
