"""Speed and memory of the SPECT projector and OSEM on this machine.

Run ``.venv/bin/python benchmarks/projector.py [--out FILE]``. It prints a table
and writes the figures as JSON (default ``_build/benchmarks/projector.json``).
Targets from the acquisition issue, 64^3 object, 64 views, attenuation and
resolution modelled: forward + backward <= 0.25 s, OSEM 8 subsets x 4
iterations <= 2 s, peak memory < 1 GB. Timings are the median of repeated
runs after one warm-up call (which builds the cached rotation matrices and
attenuation factors; its time is reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spect_tutorial.acquisition import SpectSystem
from spect_tutorial.data import build_shipped_phantom
from spect_tutorial.noise import counts_scale, expected_counts, poisson_realizations
from spect_tutorial.recon import osem


def _median_seconds(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(repeats: int = 5) -> dict[str, float | str | int]:
    """Measure the projector and OSEM; return the figures."""
    fine = build_shipped_phantom("default")
    coarse = fine.downsample(2)
    system = SpectSystem(coarse.mu, voxel_size_mm=coarse.voxel_size_mm)
    volume = coarse.activity

    start = time.perf_counter()
    projections = system.forward(volume)
    system.backward(projections)
    warm_up = time.perf_counter() - start
    forward = _median_seconds(lambda: system.forward(volume), repeats)
    backward = _median_seconds(lambda: system.backward(projections), repeats)

    scale = counts_scale(
        projections,
        system.forward(volume * coarse.masks["myocardium"]),
        angles_deg=system.geometry.angles_deg,
    )
    counts = poisson_realizations(expected_counts(projections, scale=scale), n=1, seed=0)[0]
    osem(counts, system, n_iter=1, n_subsets=8)  # builds the subset caches
    osem_seconds = _median_seconds(lambda: osem(counts, system, n_iter=4, n_subsets=8), 3)
    peak_clinical = _peak_rss_mb()

    simulation = SpectSystem(fine.mu, voxel_size_mm=fine.voxel_size_mm)
    start = time.perf_counter()
    simulation.forward(fine.activity)
    simulation_forward = time.perf_counter() - start

    return {
        "machine": platform.machine(),
        "cpu_count": os.cpu_count() or 0,
        "numpy": np.__version__,
        "clinical_grid": "64^3 x 6.4 mm, 64 views, attenuation + resolution",
        "first_call_s": round(warm_up, 3),
        "forward_s": round(forward, 4),
        "backward_s": round(backward, 4),
        "forward_plus_backward_s": round(forward + backward, 4),
        "osem_8x4_s": round(osem_seconds, 3),
        "peak_rss_clinical_mb": round(peak_clinical, 1),
        "simulation_grid": "128^3 x 3.2 mm binned to 64 x 64 x 6.4 mm, 64 views",
        "simulation_forward_s": round(simulation_forward, 3),
        "peak_rss_total_mb": round(_peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="_build/benchmarks/projector.json")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    figures = run(arguments.repeats)
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    out = Path(arguments.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
