"""Training throughput of WIN5-RB on this machine, and whether bfloat16 can be trusted.

Run ``.venv/bin/python benchmarks/training.py [--out FILE]``. It prints a table and
writes the figures as JSON (default ``_build/benchmarks/training.json``):

* seconds per gradient step and crops per second (batch 16, Adam, MSE; median of
  ``--steps`` steps after one warm-up step that builds the graph) for the paper
  (128 filters, 7 x 7) and teaching (64 filters) models, under Keras's float32
  and ``mixed_bfloat16`` dtype policies (bfloat16 compute, float32 weights; fast
  on CPUs with AVX512-BF16), for 32, 40 and 48 px crops, with 1 and 2 threads
  (each thread setting in its own process: TensorFlow fixes its thread pools
  when it starts);
* a short check that ``mixed_bfloat16`` trains like float32: the teaching model
  trained for ``--check-steps`` steps under each policy from the same seed, on
  the same synthetic pairs, and the held-out Noise2Noise losses compared epoch
  by epoch. The fastest policy whose last validation loss is within
  ``--tolerance`` (relative) of float32's is reported as ``chosen_dtype_policy``.

The machine may be shared with other work while this runs: the load average at
the start and the end are recorded with the figures, and timings on a loaded
machine are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spect_tutorial.model import PAPER_CONFIG, TEACHING_CONFIG

# Model sizes of spect_tutorial.model (importing it does not import Keras).
MODELS = {"paper": PAPER_CONFIG, "teaching": TEACHING_CONFIG}
POLICIES = ("float32", "mixed_bfloat16")
CROPS = (32, 40, 48)
THREADS = (1, 2)
BATCH = 16


def _worker(threads: int, steps: int) -> list[dict[str, Any]]:
    """Time every model x policy x crop with ``threads`` TensorFlow threads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    from spect_tutorial.model import win5rb

    rng = np.random.default_rng(0)
    rows = []
    for model_name, sizes in MODELS.items():
        for policy in POLICIES:
            for crop in CROPS:
                keras.config.set_dtype_policy(policy)
                try:
                    model = win5rb(**sizes, seed=0)
                finally:
                    keras.config.set_dtype_policy("float32")
                model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mean_squared_error")
                inputs = rng.gamma(4.0, 0.25, (BATCH, crop, crop, 1)).astype(np.float32)
                targets = rng.gamma(4.0, 0.25, (BATCH, crop, crop, 1)).astype(np.float32)
                start = time.perf_counter()
                model.train_on_batch(inputs, targets)
                warm_up = time.perf_counter() - start
                times = []
                for _ in range(steps):
                    start = time.perf_counter()
                    model.train_on_batch(inputs, targets)
                    times.append(time.perf_counter() - start)
                step = statistics.median(times)
                rows.append(
                    {
                        "model": model_name,
                        "filters": sizes["filters"],
                        "dtype_policy": policy,
                        "crop_px": crop,
                        "threads": threads,
                        "batch_size": BATCH,
                        "seconds_per_step": round(step, 4),
                        "crops_per_second": round(BATCH / step, 2),
                        "warm_up_seconds": round(warm_up, 2),
                        "timed_steps": steps,
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                del model
                keras.backend.clear_session()
    return rows


def _bf16_check(steps: int, tolerance: float) -> dict[str, Any]:
    """Teaching model, float32 vs mixed_bfloat16, same seed and pairs: validation losses."""
    import tempfile

    from spect_tutorial.datasets import synthetic_training_set
    from spect_tutorial.training import PairSource, TrainingConfig, train_pairs

    data = synthetic_training_set(
        n_phantoms=6, realizations=3, n_slices=8, slice_shape=(48, 48), seed=0
    )
    epochs = 3
    results = {}
    for policy in POLICIES:
        config = TrainingConfig(
            epochs=epochs,
            batch_size=BATCH,
            steps_per_epoch=max(1, steps // epochs),
            validation_steps=4,
            patience=None,
            restore_best_weights=False,
            dtype_policy=policy,
            seed=0,
        )
        with tempfile.TemporaryDirectory() as work_dir:
            start = time.perf_counter()
            result = train_pairs(
                PairSource.noise2noise(data.noise2noise),
                model=TEACHING_CONFIG,
                config=config,
                work_dir=work_dir,
                verbose=False,
            )
            seconds = time.perf_counter() - start
        results[policy] = {
            "val_loss": [row["val_loss"] for row in result.history],
            "loss": [row["loss"] for row in result.history],
            "seconds": round(seconds, 1),
            "steps": result.steps,
        }
    reference = results["float32"]["val_loss"][-1]
    difference = {
        policy: (values["val_loss"][-1] - reference) / reference
        for policy, values in results.items()
    }
    return {
        "model": f"teaching ({TEACHING_CONFIG['filters']} filters)",
        "data": "synthetic_training_set(n_phantoms=6, realizations=3, n_slices=8, 48x48)",
        "per_policy": results,
        "relative_difference_of_last_val_loss": difference,
        "tolerance": tolerance,
        "matches": {policy: abs(value) <= tolerance for policy, value in difference.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="_build/benchmarks/training.json")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    parser.add_argument("--check-steps", type=int, default=60)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.check_steps < 1 or not 0 < args.tolerance < 1:
        parser.error("--steps and --check-steps must be >= 1, --tolerance in (0, 1)")
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.steps)))
        return 0
    started = time.perf_counter()
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for threads in THREADS:
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(threads), "--steps", str(args.steps)],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
        )
        rows.extend(json.loads(done.stdout.strip().splitlines()[-1]))
    check = _bf16_check(args.check_steps, args.tolerance)
    fastest = {}
    for policy in POLICIES:
        best = min(
            row["seconds_per_step"]
            for row in rows
            if row["dtype_policy"] == policy and row["model"] == "paper" and row["crop_px"] == 48
        )
        fastest[policy] = best
    trusted = [policy for policy in POLICIES if check["matches"][policy]]
    chosen = min(trusted, key=lambda policy: fastest[policy])
    figures = {
        "rows": rows,
        "bf16_check": check,
        "paper_48px_best_seconds_per_step": fastest,
        "chosen_dtype_policy": chosen,
        "load_average_start": [round(value, 2) for value in load_start],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
        "note": "the CPU was shared with other work: timings are upper bounds",
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "command": "python benchmarks/training.py " + " ".join(argv or sys.argv[1:]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"{'model':<9} {'policy':<15} {'crop':>4} {'thr':>3} {'s/step':>8} {'crops/s':>8}")
    for row in rows:
        print(
            f"{row['model']:<9} {row['dtype_policy']:<15} {row['crop_px']:>4} "
            f"{row['threads']:>3} {row['seconds_per_step']:>8.3f} {row['crops_per_second']:>8.1f}"
        )
    for policy, values in check["per_policy"].items():
        print(
            f"check {policy:<15} val_loss {[round(v, 5) for v in values['val_loss']]} "
            f"({values['steps']} steps, {values['seconds']} s)"
        )
    print(f"chosen dtype policy: {chosen}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
