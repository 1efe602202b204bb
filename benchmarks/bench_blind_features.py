"""Acoustic blind-baseline features: telltale's extractor beside the straightforward librosa way.

The straightforward way is one librosa call per feature (``librosa.load``, ``feature.mfcc``,
``spectral_centroid``, ``spectral_bandwidth``, ``spectral_rolloff``, ``spectral_flatness``,
``rms``, ``zero_crossing_rate`` and ``librosa.yin``), each computing its own STFT or framing,
one clip after another. Both sides use the same frames, hop and parameters and the same
voicing gate for pitch, and both summarise each series by mean, std and 10/50/90th
percentiles, so every utterance-level feature can be compared by Pearson r across clips.

Clips come from ``--manifest`` (its ``audio`` column) or are synthesised with espeak-ng
(``--clips`` sentences of 2-6 s, varied voice, rate and pitch) into a temporary folder.

Issue 4 target: telltale at least 5x faster (clips/s) and r >= 0.99 for every feature.

    python benchmarks/bench_blind_features.py --clips 200 --json /tmp/bench_blind.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from telltale.membership.acoustic import (
    DEFAULT_CONFIG,
    AcousticConfig,
    extract_acoustic,
    feature_names,
    resolve_jobs,
    series_names,
)

WORDS = ("the quick brown fox jumps over lazy dog river bank morning light city train "
         "station window garden paper letter music quiet evening summer winter coffee table "
         "mountain valley bridge market doctor teacher student family friend number seven "
         "twelve yellow orange purple careful gentle sudden distant ancient modern").split()
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en+f3", "en+m3")


def synthesise_clips(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` espeak-ng sentences of 6-16 words (about 2-6 s) as 22.05 kHz WAV files."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed; pass --manifest with your own clips")
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16)))
        path = folder / f"clip{i:04d}.wav"
        subprocess.run(["espeak-ng", "-v", rng.choice(VOICES), "-s", str(rng.randint(140, 200)),
                        "-p", str(rng.randint(30, 70)), "-w", str(path), text], check=True,
                       capture_output=True)
        paths.append(path)
    return paths


def manifest_clips(path: Path) -> list[Path]:
    from telltale.manifest import load_manifest

    samples, _ = load_manifest(path, require=("audio",), on_error="skip")
    return [s.media for s in samples if s.media is not None]


def librosa_features(path: Path, config: AcousticConfig) -> np.ndarray:
    """One clip the straightforward way: every feature its own librosa call."""
    import librosa

    y, sr = librosa.load(path, sr=config.rate)
    stft = {"n_fft": config.n_fft, "hop_length": config.hop}
    frame = {"frame_length": config.n_fft, "hop_length": config.hop}
    # librosa.feature.mfcc applies power_to_db with its default top_db (80 dB, as ours)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=config.n_mfcc, n_mels=config.n_mels, **stft)
    rms = librosa.feature.rms(y=y, **frame)[0]
    zcr = librosa.feature.zero_crossing_rate(y, **frame)[0]
    series = [*mfcc,
              librosa.feature.spectral_centroid(y=y, sr=sr, **stft)[0],
              librosa.feature.spectral_bandwidth(y=y, sr=sr, **stft)[0],
              librosa.feature.spectral_rolloff(y=y, sr=sr, roll_percent=config.rolloff_percent,
                                               **stft)[0],
              librosa.feature.spectral_flatness(y=y, **stft)[0],
              rms, zcr]
    f0 = librosa.yin(y, fmin=config.fmin, fmax=config.fmax, sr=sr,
                     frame_length=config.yin_frame, hop_length=config.hop,
                     trough_threshold=config.trough_threshold)
    voiced = ((rms >= rms.max() * 10.0 ** (-config.voicing_db / 20.0))
              & (zcr < config.voicing_zcr) & (rms > 0))
    series.append(f0[voiced])
    out = []
    for values in series:
        if values.size == 0:
            out.extend([np.nan] * 5)
        else:
            out.extend([values.mean(), values.std(), *np.percentile(values, [10, 50, 90])])
    return np.asarray(out, dtype=np.float64)


def time_librosa(paths: list[Path], config: AcousticConfig, blas_threads: int | None,
                 repeat: int) -> tuple[np.ndarray, float]:
    """Features and the best wall time of ``repeat`` passes (the least disturbed by other
    processes on a shared machine)."""
    from threadpoolctl import threadpool_limits

    best = np.inf
    with threadpool_limits(limits=blas_threads):
        for _ in range(repeat):
            start = time.perf_counter()
            matrix = np.vstack([librosa_features(p, config) for p in paths])
            best = min(best, time.perf_counter() - start)
    return matrix, best


def time_telltale(paths: list[Path], config: AcousticConfig, jobs: int,
                  repeat: int) -> tuple[np.ndarray, float]:
    """Features and the best wall time of ``repeat`` runs of :func:`extract_acoustic`
    (pool start-up included)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        matrix, _, errors = extract_acoustic(paths, n_jobs=jobs, config=config)
        best = min(best, time.perf_counter() - start)
        if errors:
            raise SystemExit(f"telltale failed on {len(errors)} clips, "
                             f"e.g. {next(iter(errors.values()))}")
    return matrix, best


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
    parser.add_argument("--clips", type=int, default=200, help="espeak-ng clips to synthesise")
    parser.add_argument("--jobs", type=int, default=0, help="telltale workers (0: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    import librosa

    config = DEFAULT_CONFIG
    names = feature_names(config)
    jobs = resolve_jobs(args.jobs)
    with tempfile.TemporaryDirectory(prefix="bench_blind_") as tmp:
        if args.manifest:
            paths = manifest_clips(args.manifest)
        else:
            paths = synthesise_clips(Path(tmp), args.clips, args.seed)
        durations = [librosa.get_duration(path=p) for p in paths]
        # first calls compile librosa's numba kernels and warm both code paths' caches
        librosa_features(paths[0], config)
        extract_acoustic(paths[:1], n_jobs=1, config=config)

        ref, t_librosa = time_librosa(paths, config, None, args.repeat)
        _, t_librosa_1 = time_librosa(paths, config, 1, args.repeat)
        _, t_ours_1 = time_telltale(paths, config, 1, args.repeat)
        ours, t_ours = time_telltale(paths, config, jobs, args.repeat)

    n = len(paths)
    per_feature = agreement(ours, ref, names)
    rs = {k: v["r"] for k, v in per_feature.items() if v["r"] is not None}
    constant_bad = [k for k, v in per_feature.items()
                    if v["r"] is None and not v.get("constant_equal")]
    per_series = {s: min((rs[f"{s}_{t}"] for t in ("mean", "std", "p10", "p50", "p90")
                          if f"{s}_{t}" in rs), default=None) for s in series_names(config)}
    speed = {
        "librosa_clips_per_s": n / t_librosa,
        "librosa_1_blas_thread_clips_per_s": n / t_librosa_1,
        "telltale_1_job_clips_per_s": n / t_ours_1,
        "telltale_clips_per_s": n / t_ours,
        "telltale_jobs": jobs,
    }
    speed["ratio"] = speed["telltale_clips_per_s"] / speed["librosa_clips_per_s"]
    speed["ratio_single_core_same_blas"] = (speed["telltale_1_job_clips_per_s"]
                                            / speed["librosa_1_blas_thread_clips_per_s"])
    min_r = min(rs.values())
    result = {
        "clips": n, "audio_seconds": float(sum(durations)),
        "clip_seconds": {"min": float(min(durations)), "max": float(max(durations))},
        "repeat": args.repeat, "cores": os.cpu_count(), "load_average": list(os.getloadavg()),
        "librosa": librosa.__version__, "config": config.__dict__, **speed,
        "min_pearson_r": min_r, "worst_feature": min(rs, key=rs.get),
        "constant_features_disagreeing": constant_bad,
        "min_r_per_series": per_series, "per_feature": per_feature,
        "target_met": bool(speed["ratio"] >= 5.0 and min_r >= 0.99 and not constant_bad),
    }

    print(f"{n} clips, {result['audio_seconds']:.0f} s of audio "
          f"({result['clip_seconds']['min']:.1f}-{result['clip_seconds']['max']:.1f} s each), "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'extractor':44s} {'clips/s':>9s}")
    print(f"{'librosa, one call per feature (default BLAS)':44s} {n / t_librosa:9.1f}")
    print(f"{'librosa, one call per feature (1 BLAS thread)':44s} {n / t_librosa_1:9.1f}")
    print(f"{'telltale, 1 job':44s} {n / t_ours_1:9.1f}")
    print(f"{f'telltale, {jobs} jobs':44s} {n / t_ours:9.1f}")
    print(f"speed ratio {speed['ratio']:.1f}x (single core, same BLAS threads: "
          f"{speed['ratio_single_core_same_blas']:.1f}x)")
    print(f"{'series':10s} {'min r':>9s}")
    for series, r in per_series.items():
        print(f"{series:10s} {r:9.5f}" if r is not None else f"{series:10s} {'n/a':>9s}")
    print(f"min Pearson r {min_r:.5f} ({result['worst_feature']}); "
          f"constant features disagreeing: {constant_bad or 'none'}")
    print("target (>= 5x, r >= 0.99):", "met" if result["target_met"] else "NOT met")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
