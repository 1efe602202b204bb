"""``telltale membership`` (phases 1-3) and ``telltale blind`` (phase 1 alone)."""

from __future__ import annotations

import argparse

from telltale.membership.blind import PERMUTATIONS
from telltale.options import (
    add_audio_options,
    add_command,
    add_model_options,
    add_run_options,
)


def _run_membership(args: argparse.Namespace) -> int:
    from telltale.membership.audit import MembershipAudit, MembershipConfig
    from telltale.options import config_from_args, run_from_args

    config = config_from_args(MembershipConfig, args, baselines=not args.no_baselines)
    return run_from_args(MembershipAudit(config), args)


def _run_blind(args: argparse.Namespace) -> int:
    from telltale.membership.blind_audit import BlindAudit, BlindConfig
    from telltale.options import config_from_args, run_from_args

    return run_from_args(BlindAudit(config_from_args(BlindConfig, args)), args)


def _add_baseline_options(parser: argparse.ArgumentParser, jobs: int) -> None:
    parser.add_argument("--folds", type=int, default=10, help="stratified CV folds")
    parser.add_argument("--permutations", type=int, default=PERMUTATIONS,
                        help="label shuffles that measure how far chance alone moves each "
                             "blind AUC (0: none)")
    parser.add_argument("--jobs", type=int, default=jobs,
                        help="processes for the acoustic features and the label shuffles "
                             "(0: every core)")


def register(subparsers) -> None:
    membership = add_command(subparsers, "membership",
                             help="membership inference with the blind-baseline protocol")
    add_model_options(membership)
    add_run_options(membership)
    add_audio_options(membership)
    membership.add_argument("--conditions", default="original,silence,noise",
                            help="original,silence,noise,tts (modality disentanglement)")
    membership.add_argument("--tts-k", type=int, default=3,
                            help="TTS resynthesis realisations per clip")
    membership.add_argument("--prompt", default="Transcribe the audio.")
    membership.add_argument("--target", choices=("self", "reference"), default="self",
                            help="score the model's own transcription (two-stage protocol) "
                                 "or the manifest transcript (white-box)")
    membership.add_argument("--methods", default="indicators,dataset",
                            help="indicators (log-probability attack), blackbox (sampled "
                                 "transcriptions, no log-probabilities needed), dataset "
                                 "(set-level dataset inference), reference (calibration by "
                                 "--reference-model)")
    membership.add_argument("--samples", type=int, default=5,
                            help="sampled transcriptions per clip for the blackbox method")
    membership.add_argument("--temperature", type=float, default=1.0,
                            help="sampling temperature of the blackbox method")
    membership.add_argument("--reference-model", metavar="SPEC", default=None,
                            help="a model that did not train on the clips (a base model, a "
                                 "sibling checkpoint, an organism trained on other clips) "
                                 "for the reference method")
    _add_baseline_options(membership, jobs=2)
    membership.add_argument("--no-baselines", action="store_true",
                            help="skip phase 1 (the blind baselines)")
    membership.set_defaults(func=_run_membership)

    blind = add_command(
        subparsers, "blind",
        help="membership phase 1: blind baselines (no model) for distribution shift")
    add_run_options(blind)
    add_audio_options(blind)
    blind.add_argument("--families", default="metadata,text,acoustic",
                       help="comma-separated: metadata,text,acoustic (combined is added)")
    _add_baseline_options(blind, jobs=0)
    blind.add_argument("--matched", action="store_true",
                       help="also select a distribution-matched subset (matched_manifest.csv)")
    blind.set_defaults(func=_run_blind)
