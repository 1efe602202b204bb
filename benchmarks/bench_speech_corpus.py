"""Throughput of ``build_speech_corpus``: clips per second, overall and per TTS engine.

Usage::

    python benchmarks/bench_speech_corpus.py [-n 60] [--jobs 2] [--json out.json]

Each configuration builds a fresh corpus in a temporary folder and is timed end to end
(sentence generation, synthesis, resampling to 16 kHz, f0 measurement, manifest). Audio
seconds per wall second are reported too, since engines differ in how long they speak.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info

from telltale.corpus.speech import build_speech_corpus
from telltale.corpus.tts import ENGINES, available_voices


def bench(engines: tuple[str, ...], n: int, jobs: int, seed: int) -> dict:
    """Build one corpus with ``engines``; its size, wall time and rates."""
    with tempfile.TemporaryDirectory(prefix="telltale-bench-") as tmp:
        started = time.perf_counter()
        manifest = build_speech_corpus(tmp, n, seed=seed, engines=engines, jobs=jobs)
        elapsed = time.perf_counter() - started
        with open(manifest, newline="") as fh:
            rows = list(csv.DictReader(fh))
    audio_s = sum(float(r["duration"]) for r in rows)
    return {"engines": list(engines), "clips": len(rows), "requested": n, "jobs": jobs,
            "seconds": round(elapsed, 3), "clips_per_s": round(len(rows) / elapsed, 2),
            "audio_s": round(audio_s, 1), "audio_s_per_s": round(audio_s / elapsed, 1),
            "by_engine": {e: sum(r["engine"] == e for r in rows) for e in engines}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="clips per configuration")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    installed = tuple(e for e in ENGINES if available_voices((e,)))
    configs = [installed, *((e,) for e in installed)]
    results = []
    for engines in configs:
        result = bench(engines, args.n, args.jobs, args.seed)
        results.append(result)
        print(f"{'+'.join(engines):28} {result['clips']:4d} clips  {result['seconds']:7.2f} s  "
              f"{result['clips_per_s']:7.2f} clips/s  {result['audio_s_per_s']:7.1f} audio s/s")
    report = {"benchmark": "speech_corpus", "machine": machine_info(),
              "voices": {e: len(available_voices((e,))) for e in installed},
              "results": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
