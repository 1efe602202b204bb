"""Acoustic blind-baseline features: telltale's extractor beside the straightforward librosa way.

The straightforward way (``librosa_features`` below) decodes with ``librosa.load`` and
computes every series with its own librosa call (``feature.melspectrogram`` +
``power_to_db`` + ``feature.mfcc``, ``spectral_centroid``, ``spectral_bandwidth``,
``spectral_rolloff``, ``spectral_flatness``, ``rms``, ``zero_crossing_rate``, and
``librosa.yin`` over every frame), each with its own STFT or framing; then mean, std and
``np.percentile`` per series. Both sides use the same frames, hop and parameters and the
same voicing gate for pitch, so every utterance-level feature compares by Pearson r across
clips.

How each side runs: at every job count both go through the same
``telltale.parallel.process_map`` (one job: a loop in this process; more: a
process pool, forked on Linux, clips in chunks), one BLAS thread per process, pool
start-up included in the time. librosa's default BLAS threading is not used: where we
measured it, it made librosa slower (its matrices are small), not faster. The timed runs
are interleaved (each round runs every (side, jobs) pair, the side order alternating
between rounds), and medians over rounds are reported, because other processes on a
shared machine slow some rounds down. CPU time per clip (this process plus its workers)
is reported too: it is much less sensitive to such load than wall time.

Clips: ``--manifest`` (its ``audio`` column), else a TTS corpus of 2-8 s clips at 16 kHz
built with ``telltale.corpus.speech.build_speech_corpus`` in a temporary folder.

Issue 4 target: telltale at least 5x the clips/s of librosa with as many workers, and
Pearson r >= 0.99 for every feature.

    python benchmarks/bench_blind_features.py --clips 200 --json /tmp/bench_blind.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import machine_info

from telltale.membership.acoustic import (
    DEFAULT_CONFIG,
    AcousticConfig,
    librosa_series,
    series_names,
)
from telltale.membership.acoustic_utterance import SUMMARIES, extract_acoustic, feature_names
from telltale.parallel import process_map, resolve_jobs


def corpus_clips(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` TTS clips (espeak-ng, flite, festival, whichever are installed)."""
    from telltale.corpus.speech import build_speech_corpus

    return manifest_clips(build_speech_corpus(folder, n, seed=seed))


def manifest_clips(path: Path) -> list[Path]:
    from telltale.manifest import load_manifest

    samples, _ = load_manifest(path, require=("audio",), on_error="skip")
    return [s.media for s in samples if s.media is not None]


def librosa_features(job: tuple[Path, AcousticConfig]) -> np.ndarray:
    """One clip the straightforward way: decode, one librosa call per series, summaries."""
    import librosa

    path, config = job
    y, _ = librosa.load(path, sr=config.rate)
    out = []
    for values in librosa_series(y, config).values():
        if values.size == 0:
            out.extend([np.nan] * len(SUMMARIES))
        else:
            out.extend([values.mean(), values.std(), *np.percentile(values, [10, 50, 90])])
    return np.asarray(out, dtype=np.float64)


def run_librosa(paths: list[Path], config: AcousticConfig, jobs: int) -> np.ndarray:
    return np.vstack(process_map(librosa_features, [(p, config) for p in paths], jobs))


def run_telltale(paths: list[Path], config: AcousticConfig, jobs: int) -> np.ndarray:
    matrix, _, errors = extract_acoustic(paths, n_jobs=jobs, config=config)
    if errors:
        raise SystemExit(f"telltale failed on {len(errors)} clips, "
                         f"e.g. {next(iter(errors.values()))}")
    return matrix


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[..., np.ndarray], *args: object) -> tuple[np.ndarray, float, float]:
    """(result, wall seconds, CPU seconds) of ``run(*args)``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = run(*args)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def agreement(ours: np.ndarray, ref: np.ndarray, names: list[str]) -> dict[str, dict]:
    """Pearson r per feature across clips (rows where both are finite). A feature that is
    constant on both sides has no r; it agrees if the constants match."""
    out = {}
    for j, name in enumerate(names):
        a, b = ours[:, j], ref[:, j]
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        entry = {"n": int(ok.sum()), "max_abs_diff": float(np.max(np.abs(a - b))) if a.size
                 else None}
        if a.size > 2 and a.std() > 0 and b.std() > 0:
            entry["r"] = float(np.corrcoef(a, b)[0, 1])
        else:
            entry["r"] = None
            entry["constant_equal"] = bool(a.size and np.allclose(a, b, rtol=1e-5, atol=1e-8))
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, help="use these clips (audio column)")
    parser.add_argument("--clips", type=int, default=200, help="TTS clips to synthesise")
    parser.add_argument("--jobs", type=int, default=0,
                        help="workers of the parallel runs, both sides (0: all cores)")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    import librosa

    config = DEFAULT_CONFIG
    names = feature_names(config)
    job_counts = sorted({1, resolve_jobs(args.jobs)})
    runners = {"librosa": run_librosa, "telltale": run_telltale}
    walls: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_blind_") as tmp:
        paths = (manifest_clips(args.manifest) if args.manifest
                 else corpus_clips(Path(tmp), args.clips, args.seed))
        durations = [librosa.get_duration(path=p) for p in paths]
        # first calls compile librosa's numba kernels and fill both sides' caches; the
        # pools fork after them, so their workers start warm too
        ref = run_librosa(paths, config, 1)
        ours = run_telltale(paths, config, 1)
        for round_ in range(args.repeat):
            order = list(runners) if round_ % 2 == 0 else list(reversed(runners))
            for jobs in job_counts:
                for side in order:
                    _, wall, cpu = timed(runners[side], paths, config, jobs)
                    walls.setdefault((side, jobs), []).append(wall)
                    cpus.setdefault((side, jobs), []).append(cpu)
        parallel = run_telltale(paths, config, job_counts[-1])

    n = len(paths)
    speed: dict[str, dict] = {}
    for jobs in job_counts:
        figures: dict[str, float] = {}
        for side in runners:
            figures[f"{side}_clips_per_s"] = n / float(np.median(walls[side, jobs]))
            figures[f"{side}_cpu_ms_per_clip"] = 1e3 * float(np.median(cpus[side, jobs])) / n
        figures["ratio"] = figures["telltale_clips_per_s"] / figures["librosa_clips_per_s"]
        paired = np.divide(walls["librosa", jobs], walls["telltale", jobs])
        figures["ratio_per_round_min"] = float(paired.min())
        figures["ratio_per_round_max"] = float(paired.max())
        figures["cpu_ratio"] = (figures["librosa_cpu_ms_per_clip"]
                                / figures["telltale_cpu_ms_per_clip"])
        speed[f"{jobs}_jobs"] = figures

    per_feature = agreement(ours, ref, names)
    rs = {k: v["r"] for k, v in per_feature.items() if v["r"] is not None}
    constant_bad = [k for k, v in per_feature.items()
                    if v["r"] is None and not v.get("constant_equal")]
    per_series = {s: min((rs[f"{s}_{t}"] for t in SUMMARIES if f"{s}_{t}" in rs),
                         default=None) for s in series_names(config)}
    min_r = min(rs.values())
    ratios = [figures["ratio"] for figures in speed.values()]
    result = {
        "clips": n, "audio_seconds": float(sum(durations)),
        "clip_seconds": {"min": float(min(durations)), "median": float(np.median(durations)),
                         "max": float(max(durations))},
        "rounds": args.repeat, "machine": machine_info(),
        "librosa": librosa.__version__, "config": config.__dict__, "speed": speed,
        "telltale_all_jobs_vs_librosa_1_job": (speed[f"{job_counts[-1]}_jobs"]
                                               ["telltale_clips_per_s"]
                                               / speed["1_jobs"]["librosa_clips_per_s"]),
        "parallel_equals_serial": bool(np.array_equal(parallel, ours, equal_nan=True)),
        "min_pearson_r": min_r, "worst_feature": min(rs, key=rs.get),
        "constant_features_disagreeing": constant_bad,
        "min_r_per_series": per_series, "per_feature": per_feature,
        "target_met": bool(min(ratios) >= 5.0 and min_r >= 0.99 and not constant_bad),
    }

    print(f"{n} clips, {result['audio_seconds']:.0f} s of audio "
          f"({result['clip_seconds']['min']:.1f}-{result['clip_seconds']['max']:.1f} s each, "
          f"median {result['clip_seconds']['median']:.1f}), {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, medians of {args.repeat} interleaved rounds")
    print(f"{'jobs':>4s} {'librosa clips/s':>16s} {'telltale clips/s':>17s} {'ratio':>6s} "
          f"{'(per round)':>13s} {'CPU ms/clip librosa':>20s} {'telltale':>9s} {'ratio':>6s}")
    for jobs in job_counts:
        f = speed[f"{jobs}_jobs"]
        print(f"{jobs:4d} {f['librosa_clips_per_s']:16.1f} {f['telltale_clips_per_s']:17.1f} "
              f"{f['ratio']:5.1f}x {f['ratio_per_round_min']:5.1f}-{f['ratio_per_round_max']:.1f}x"
              f" {f['librosa_cpu_ms_per_clip']:20.1f} {f['telltale_cpu_ms_per_clip']:9.2f} "
              f"{f['cpu_ratio']:5.1f}x")
    print(f"telltale with {job_counts[-1]} jobs vs librosa with 1: "
          f"{result['telltale_all_jobs_vs_librosa_1_job']:.1f}x")
    print(f"{'series':10s} {'min r':>9s}")
    for series, r in per_series.items():
        print(f"{series:10s} {r:9.5f}" if r is not None else f"{series:10s} {'n/a':>9s}")
    print(f"min Pearson r {min_r:.5f} ({result['worst_feature']}); "
          f"constant features disagreeing: {constant_bad or 'none'}; "
          f"parallel run equals serial: {result['parallel_equals_serial']}")
    print("target (>= 5x at every job count, r >= 0.99):",
          "met" if result["target_met"] else "NOT met")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
