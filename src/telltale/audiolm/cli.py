"""``telltale audiolm build``: the audio LM from real pretrained parts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from telltale.arguments import add_command, split_list


def run_build(args: argparse.Namespace) -> int:
    from telltale.audiolm.build import build_audiolm

    saves = tuple(int(e) for e in split_list(args.save_epochs)) if args.save_epochs else None
    out = build_audiolm(args.data, args.out, size=args.size, encoder=args.encoder,
                        seed=args.seed, epochs=args.epochs, save_epochs=saves,
                        pool=args.pool, pool_clips=args.pool_clips, overwrite=args.overwrite)
    card = json.loads((out / "card.json").read_text())
    print(json.dumps({"checkpoints": card["checkpoints"], "figures": card["figures"],
                      "timings": card["timings"]}, indent=2))
    print(f"membership manifest: {out / 'membership.csv'}\n"
          f"target model: hf:{out / card['checkpoints']['target']}\n"
          f"reference model: hf:{out / card['checkpoints']['reference']}")
    return 0


def register(subparsers) -> None:
    from telltale.audiolm.build import SIZES
    from telltale.audiolm.whisper import ENCODERS

    audiolm = add_command(subparsers, "audiolm",
                          help="build an audio LM from real pretrained parts (Whisper + "
                               "SmolLM2 in the Qwen2-Audio layout)")
    sub = audiolm.add_subparsers(dest="audiolm_command", metavar="ACTION", required=True)
    build = add_command(sub, "build", help="assemble, train (stage 1 on a pool, stage 2 on "
                                           "the members) and measure the model")
    build.add_argument("--data", type=Path, required=True,
                       help="speech manifest; its member column (else a seeded half) is "
                            "trained on in stage 2")
    build.add_argument("--out", type=Path, required=True, help="build directory to write")
    build.add_argument("--size", choices=tuple(SIZES), default="default",
                       help="micro (tests: seconds of training) or default")
    build.add_argument("--encoder", choices=tuple(ENCODERS), default="tiny.en",
                       help="Whisper encoder (base needs its optional packages)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--epochs", type=int, default=None,
                       help="stage-2 epochs over the members, the highest dose (default: "
                            "the size's)")
    build.add_argument("--save-epochs", default=None,
                       help="comma-separated stage-2 epochs to keep a checkpoint after "
                            "(default: the size's; the last is always kept)")
    build.add_argument("--pool", type=Path, default=None,
                       help="speech manifest of never-audited clips for stage 1 (default: "
                            "synthesise one)")
    build.add_argument("--pool-clips", type=int, default=None,
                       help="size of the synthesised pool (default: the size's)")
    build.add_argument("--overwrite", action="store_true",
                       help="replace a finished build at --out")
    build.set_defaults(func=run_build)
