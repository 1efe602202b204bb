"""Train the demo-size calibration organism and measure what was planted in it.

Usage::

    python benchmarks/bench_organism.py [--data M.csv | --clips 240] [--size demo]
                                        [--seed 0] [--json out.json]

Without ``--data`` a speech corpus of ``--clips`` clips is synthesised first (not timed
with the training), and the organism synthesises its pretraining pool (timed apart, as
``pool_seconds``). Reported: training wall time, transcription CER on training clips
against held-out clips, held-out gender accuracy against the majority baseline, planted
against measured refusal rates on held-out phrasings (with and without the privacy system
prompt); with ``--check-determinism`` whether a second training with the same seed gives the
same weights. The membership audit on this organism is ``bench_membership.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from machine import machine_info

from telltale.digest import file_sha256
from telltale.organism.train import SIZES, train_organism


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="speech manifest (default: synthesise one)")
    parser.add_argument("--clips", type=int, default=240, help="clips to synthesise")
    parser.add_argument("--size", default="demo", choices=tuple(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="model directory (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--check-determinism", action="store_true",
                        help="train a second time with the same seed and compare the weights")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="telltale-bench-organism-") as tmp:
        manifest = args.data
        if manifest is None:
            from telltale.corpus.speech import build_speech_corpus

            manifest = build_speech_corpus(Path(tmp) / "corpus", args.clips, seed=args.seed)
        out = args.out or Path(tmp) / "organism"
        started = time.perf_counter()
        train_organism(manifest, out, size=args.size, seed=args.seed)
        total = time.perf_counter() - started
        card = json.loads((out / "card.json").read_text())
        fig = card["figures"]
        result = {
            "machine": machine_info(),
            "size": args.size, "seed": args.seed, "clips": len(card["training_set"]) +
            len(card["heldout_set"]), "members": len(card["training_set"]),
            "pretraining_clips": len(card["pretraining_set"]),
            "train_seconds": fig["train_seconds"], "acoustic_seconds": fig["acoustic_seconds"],
            "pool_seconds": fig["pool_seconds"], "train_and_eval_seconds": round(total, 1),
            "cer_train": fig["cer_train"], "cer_heldout": fig["cer_heldout"],
            "gender_accuracy_heldout": fig["gender_accuracy_heldout"],
            "gender_majority_heldout": fig["gender_majority_heldout"],
            "refusal": {"planted": card["policy"]["planted_rates"],
                        "measured": {"no_system": fig["refusal_rate_no_system"],
                                     "privacy_system": fig["refusal_rate_privacy_system"]}},
        }
        if args.check_determinism:
            again = train_organism(manifest, Path(tmp) / "again", size=args.size,
                                   seed=args.seed)
            result["same_weights_for_same_seed"] = (
                file_sha256(again / "model.safetensors") == file_sha256(out / "model.safetensors"))
    print(f"training time        {result['train_seconds']:.1f} s, of which acoustic model "
          f"{result['acoustic_seconds']:.1f} s ({result['clips']} clips, {result['members']} "
          f"members, {result['pretraining_clips']} pool clips synthesised in "
          f"{result['pool_seconds']:.1f} s); load average {result['machine']['load_average']}")
    print(f"CER train / held-out {result['cer_train']:.3f} / {result['cer_heldout']:.3f}")
    print(f"gender accuracy      {result['gender_accuracy_heldout']:.3f} held-out "
          f"(majority {result['gender_majority_heldout']:.3f})")
    for key in ("no_system", "privacy_system"):
        print(f"refusal {key:<14} planted {result['refusal']['planted'][key]:.2f}, "
              f"measured {result['refusal']['measured'][key]:.3f}")
    if "same_weights_for_same_seed" in result:
        print(f"same seed, same weights: {result['same_weights_for_same_seed']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
