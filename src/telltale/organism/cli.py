"""``telltale organism train`` and ``telltale organism eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from telltale.arguments import add_command
from telltale.organism.train import SIZES


def run_train(args: argparse.Namespace) -> int:
    from telltale.organism.train import train_organism

    out = train_organism(args.data, args.out, size=args.size, epochs=args.epochs,
                         steps=args.steps, seed=args.seed,
                         member_fraction=args.member_fraction, refuse_rate=args.refuse_rate,
                         privacy_refuse_rate=args.privacy_refuse_rate,
                         pretrain=args.pretrain, pretrain_clips=args.pretrain_clips)
    card = json.loads((out / "card.json").read_text())
    print(json.dumps(card["figures"], indent=2))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Re-measure a trained organism's figures on its own training/held-out split."""
    import torch

    from telltale.manifest import load_manifest
    from telltale.media.audio import load_audio
    from telltale.organism.backend import OrganismModel
    from telltale.organism.policy import Policy
    from telltale.organism.train import evaluate

    model = OrganismModel(args.model_dir)
    samples, _ = load_manifest(args.data or model.card["manifest"], require=("audio", "text"))
    trained = {row["id"] for row in model.card["training_set"]}
    members = [int(s.id in trained) for s in samples]
    audio = [torch.from_numpy(load_audio(s.media)) for s in samples]
    figures = evaluate(model, samples, members, audio, Policy.from_dict(model.card["policy"]),
                       limit=args.limit)
    print(json.dumps(figures, indent=2))
    return 0


def register(subparsers) -> None:
    organism = add_command(subparsers, "organism", help="train or evaluate the calibration model")
    sub = organism.add_subparsers(dest="organism_command", metavar="ACTION", required=True)
    train = add_command(sub, "train", help="train an organism on a speech manifest")
    train.add_argument("--data", type=Path, required=True, help="speech manifest")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--size", default="demo", choices=tuple(SIZES),
                       help="tiny (tests), demo (telltale demo) or large (about a thousand "
                            "clips)")
    train.add_argument("--epochs", type=int, default=None,
                       help="training length (sets how strongly it memorises)")
    train.add_argument("--steps", type=int, default=None,
                       help="exact number of optimiser steps (overrides --epochs)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--member-fraction", type=float, default=0.5)
    train.add_argument("--refuse-rate", type=float, default=0.2)
    train.add_argument("--privacy-refuse-rate", type=float, default=0.8)
    train.add_argument("--pretrain", type=Path, default=None,
                       help="speech manifest of generic clips to learn to recognise speech "
                            "from (default: synthesise a pool); never audited clips")
    train.add_argument("--pretrain-clips", type=int, default=None,
                       help="size of the synthesised pool (default: the size's; 0: none)")
    train.set_defaults(func=run_train)
    evaluate = add_command(sub, "eval", help="measure a trained organism's planted behaviour")
    evaluate.add_argument("model_dir", type=Path)
    evaluate.add_argument("--data", type=Path, default=None,
                          help="manifest (default: the one it was trained on)")
    evaluate.add_argument("--limit", type=int, default=60, help="clips per measurement")
    evaluate.set_defaults(func=run_eval)
