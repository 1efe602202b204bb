"""``telltale mitigate``: the same audits on defended media, against the undefended original."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import (
    add_audio_options,
    add_command,
    add_model_options,
    add_run_options,
)


def _run(args: argparse.Namespace) -> int:
    from telltale.mitigate.audit import MitigateAudit, MitigateConfig
    from telltale.options import config_from_args, run_from_args

    config = config_from_args(MitigateConfig, args, membership=not args.no_membership,
                              classical=not args.no_classical)
    return run_from_args(MitigateAudit(config), args)


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "mitigate",
        help="does anonymising the voice stop the leak, and what does it cost? (attribute "
             "and membership audits, speaker verification EER and WER, per defence)")
    add_model_options(parser, max_new_tokens=48)
    add_run_options(parser)
    add_audio_options(parser)
    parser.add_argument("--defences", default="mcadams,pitch,tts",
                        help="mcadams (VoicePrivacy B2: alpha drawn per clip in 0.5-0.9), "
                             "mcadams:ALPHA, pitch (+-4 semitones), pitch:SEMITONES, tts "
                             "(another TTS voice reads the transcript); several strengths of "
                             "one defence may be given")
    parser.add_argument("--attributes", default="gender,accent",
                        help="attributes asked on every version ('' to skip)")
    parser.add_argument("--modes", default="direct", help="prompt modes of the attribute "
                                                          "questions")
    parser.add_argument("--taxonomy", type=Path, default=None,
                        help="JSON/TOML file of attributes added to the built-in taxonomy")
    parser.add_argument("--prompts", type=Path, default=None,
                        help="JSON/TOML file of prompt modes added to the built-in ones")
    parser.add_argument("--prompt", default="Transcribe the audio.",
                        help="the membership attack's transcription prompt")
    parser.add_argument("--folds", type=int, default=10,
                        help="folds of the out-of-fold membership classifier")
    parser.add_argument("--no-membership", action="store_true",
                        help="skip the membership attack (no member column needed)")
    parser.add_argument("--no-classical", action="store_true",
                        help="skip speaker verification (EER) and the recogniser's WER")
    parser.add_argument("--jobs", type=int, default=2,
                        help="processes for the defences, speaker embeddings and ASR (0: "
                             "every core)")
    parser.set_defaults(func=_run)
