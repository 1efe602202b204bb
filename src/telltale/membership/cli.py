"""``telltale membership`` (phases 1-3); ``telltale blind`` (phase 1 alone) is in
:mod:`telltale.membership.blind_cli`."""

from __future__ import annotations

import argparse

from telltale.membership.blind import PERMUTATIONS
from telltale.options import add_model_options, add_run_options


def _run_membership(args: argparse.Namespace) -> int:
    from telltale.membership.audit import run_membership

    return run_membership(args)


def register(subparsers) -> None:
    membership = subparsers.add_parser(
        "membership", help="membership inference with the blind-baseline protocol")
    add_model_options(membership)
    add_run_options(membership)
    membership.add_argument("--conditions", default="original,silence,noise",
                            help="original,silence,noise,tts (modality disentanglement)")
    membership.add_argument("--tts-k", type=int, default=3,
                            help="TTS resynthesis realisations per clip")
    membership.add_argument("--prompt", default="Transcribe the audio.")
    membership.add_argument("--target", choices=("self", "reference"), default="self",
                            help="score the model's own transcription (two-stage protocol, "
                                 "default) or the manifest transcript (white-box)")
    membership.add_argument("--folds", type=int, default=10)
    membership.add_argument("--jobs", type=int, default=2,
                            help="processes for phase 1: acoustic features and label "
                                 "shuffles (0: every core)")
    membership.add_argument("--no-blind", action="store_true", help="skip phase 1")
    membership.add_argument("--blind-permutations", type=int, default=PERMUTATIONS,
                            help="label shuffles that measure how far chance alone moves "
                                 "each blind AUC (0: none)")
    membership.set_defaults(func=_run_membership)
